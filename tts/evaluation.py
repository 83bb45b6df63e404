"""Free-running TTS output judged against references: MCD with DTW, length, SCRAPS score and retrieval, ASR WER.

The model synthesises each evaluation utterance's phonemes for its speaker, without teacher forcing, and its
output is compared with the utterance's recording. Two baselines go through the very same measurements:

* ``ceiling``: the recording itself, turned into a mel and back into audio by the same vocoder (what a perfect
  acoustic model would give with this vocoder);
* ``floor``: another utterance's recording (the next one of the same speaker, else the next one), measured
  against this utterance's reference and text (what sounding like the voice but saying something else gives).

Every figure is defined in :data:`DEFINITIONS`, which the report carries. The metric functions here
(:func:`mcd_dtw`, :class:`ScrapsJudge`) are also what the TTS validation logs during training.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from einops import rearrange
from lhotse import CutSet
from torch.nn.utils.rnn import pad_sequence

from scraps.audio import AudioError, MelSpectrogram
from scraps.data.dataset import SpeechDataset
from scraps.data.prepare import DataError
from tts.inference import LengthGuards, generate_guarded
from tts.model import TTSModel
from tts.vocoder import Vocoder

N_CEPSTRA = 24
RETRIEVAL_WAY = 32
LENGTH_TOLERANCE = (0.85, 1.15)
MCD_SCALE = 10.0 / math.log(10.0) * math.sqrt(2.0)
SYSTEMS = ("model", "ceiling", "floor")

DEFINITIONS = {
    "mcd_dtw": f"mel cepstral distortion in dB after dynamic time warping: cepstra c1..c{N_CEPSTRA} of each frame, "
    "c_k = (1/N) sum_n x_n cos(pi k (n + 1/2) / N) over the N = 100 bins x_n of the project's natural-log mel (the "
    "real cepstrum of the mel-warped log-amplitude spectrum; c0, the level, left out); frames of output and "
    "reference paired along the DTW path (steps (1,0), (0,1), (1,1), Euclidean frame cost) and "
    "MCD = 10 / ln(10) * sqrt(2) * mean over the path of ||c - c_ref||",
    "length_ratio": "output frames / reference frames; 'within' counts ratios in "
    f"[{LENGTH_TOLERANCE[0]}, {LENGTH_TOLERANCE[1]}]",
    "hit_cap": "the decode was cut at its length cap (model only)",
    "scraps_score": "SCRAPS score of the audio against the utterance's own phonemes (cosine of the embeddings)",
    "recall_at_1": f"SCRAPS retrieval of the own sentence: the audio's embedding ranks its own phonemes first among "
    f"{RETRIEVAL_WAY} candidates (the own + {RETRIEVAL_WAY - 1} other sentences of the set, drawn with the seed)",
    "wer": "word error rate of the ASR transcript against the utterance's spoken-form text",
    "ceiling": "the reference recording -> mel -> the same vocoder -> audio",
    "floor": "another utterance's recording (same speaker when possible) scored against this utterance",
}


# ---------------------------------------------------------------------------------------------------- MCD
def mel_cepstra(log_mel: torch.Tensor, n: int = N_CEPSTRA) -> torch.Tensor:
    """log-mel (c, t) natural log -> cepstra (t, n): c_k = (1/c) sum_i x_i cos(pi k (i + 1/2) / c), k = 1..n, the
    real cepstrum of the mel-warped log-amplitude spectrum (a DCT-II over the bins)."""
    c = log_mel.shape[0]
    k = torch.arange(1, n + 1, dtype=torch.float64)[:, None]
    basis = torch.cos(math.pi * k * (torch.arange(c, dtype=torch.float64)[None, :] + 0.5) / c) / c
    return (rearrange(log_mel.double(), "c t -> t c") @ basis.T).float()


def dtw_mean_cost(cost: np.ndarray) -> float:
    """Mean frame cost along the cheapest monotonic path through cost (n, m) from (0, 0) to (n-1, m-1).

    Steps (1, 0), (0, 1) and (1, 1); a row's recurrence D[i, j] = c[i, j] + min(D[i-1, j], D[i-1, j-1], D[i, j-1])
    is solved at once per row (a running minimum over the cumulative costs), then the path is traced back.
    """
    n, m = cost.shape
    acc = np.empty((n, m))
    acc[0] = np.cumsum(cost[0])
    for i in range(1, n):
        above = np.minimum(acc[i - 1], np.r_[np.inf, acc[i - 1, :-1]])  # from (i-1, j) or (i-1, j-1)
        run = np.cumsum(cost[i])
        # D[i, j] = run[j] + min over k <= j of (above[k] - run[k - 1])
        acc[i] = run + np.minimum.accumulate(above - np.r_[0.0, run[:-1]])
    i, j, steps, total = n - 1, m - 1, 1, cost[n - 1, m - 1]
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            moves = ((i - 1, j - 1), (i - 1, j), (i, j - 1))
            i, j = min(moves, key=lambda ij: acc[ij])
        total += cost[i, j]
        steps += 1
    return float(total / steps)


def mcd_dtw(log_mel: torch.Tensor, reference: torch.Tensor) -> float:
    """MCD with DTW in dB between two log-mels (c, t1) and (c, t2) (see :data:`DEFINITIONS`)."""
    a, b = mel_cepstra(log_mel), mel_cepstra(reference)
    cost = torch.cdist(a.double(), b.double()).numpy()
    return MCD_SCALE * dtw_mean_cost(cost)


# ---------------------------------------------------------------------------------------------- SCRAPS judge
class ScrapsJudge:
    """SCRAPS score and 32-way retrieval of audio against phoneme sequences, with one pool of candidate sentences.

    ``pool`` holds phoneme-id lists (bos ... eos); the candidates of an utterance are its own phonemes and
    ``way - 1`` pool sentences that differ from them, drawn by a generator seeded with (seed, utterance index).
    """

    def __init__(self, scraps, pool: Sequence[Sequence[int]], way: int = RETRIEVAL_WAY, seed: int = 0) -> None:
        from scraps.evaluation import embed_phoneme_ids

        self.model = scraps.eval()
        self.way = way
        self.seed = seed
        self.pool = [tuple(p) for p in pool]
        self._pool_emb = embed_phoneme_ids(self.model, self.pool) if self.pool else None

    @torch.no_grad()
    def judge(self, ids: Sequence[Sequence[int]], mels: Sequence[torch.Tensor]) -> tuple[list[float], list[int]]:
        """n phoneme-id lists and n log-mels (100, t_i) -> SCRAPS scores (n,) and ranks (1 = own sentence first)."""
        from scraps.evaluation import embed_phoneme_ids, seeded_generator

        if not ids:
            return [], []
        e_p = embed_phoneme_ids(self.model, ids)
        e_a = self._embed_mels(mels)
        scores = (e_p * e_a).sum(-1)
        ranks = []
        for i, own in enumerate(ids):
            others = [k for k, p in enumerate(self.pool) if p != tuple(own)]
            if not others or self._pool_emb is None:
                ranks.append(1)
                continue
            pick = torch.randperm(len(others), generator=seeded_generator(self.seed, i))[: self.way - 1]
            cand = self._pool_emb[torch.tensor(others)[pick]]
            ranks.append(int((cand @ e_a[i] > scores[i]).sum()) + 1)
        return scores.tolist(), ranks

    def _embed_mels(self, mels: Sequence[torch.Tensor], batch_size: int = 16) -> torch.Tensor:
        device = next(self.model.parameters()).device
        order = sorted(range(len(mels)), key=lambda i: mels[i].shape[-1])
        out = torch.empty(len(mels), self.model.config.embed_dim)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            lens = torch.tensor([mels[i].shape[-1] for i in chunk])
            batch = pad_sequence([rearrange(mels[i], "c t -> t c") for i in chunk], batch_first=True)
            emb = self.model.embed_mels(rearrange(batch, "b t c -> b c t").to(device), lens.to(device))
            out[torch.tensor(chunk)] = emb.float().cpu()
        return out


# ------------------------------------------------------------------------------------------------- the set
@dataclass
class TTSEvalSet:
    """Utterances to synthesise and their references: ids (bos ... eos) in the model's vocabulary, 24 kHz audio."""

    cut_ids: list[str] = field(default_factory=list)
    speakers: list[int] = field(default_factory=list)
    phoneme_ids: list[list[int]] = field(default_factory=list)
    waves: list[torch.Tensor] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # spoken-form text ("normalized"), for WER
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"id", "reason"}


def load_tts_eval_set(cuts: CutSet, model: TTSModel, max_utts: int | None = None) -> TTSEvalSet:
    """Read the cuts whose speaker the model knows; skip (with the reason) a cut with an unknown speaker, a
    phoneme outside the model's vocabulary, or audio that cannot be read. ``max_utts`` caps the usable ones."""
    vocab, names = model.vocab, list(model.speakers or [])
    dataset = SpeechDataset(vocab, {name: i for i, name in enumerate(names)})
    data = TTSEvalSet()
    for cut in cuts:
        if max_utts is not None and len(data.cut_ids) >= max_utts:
            break
        sup = cut.supervisions[0]
        try:
            if sup.speaker not in names:
                raise DataError(f"speaker {sup.speaker!r} is not one of the model's {len(names)} speakers")
            phonemes = ((sup.custom or {}).get("phonemes") or "").split(" ")
            unknown = sorted({p for p in phonemes if p and vocab.encode([p], add_bos_eos=False) == [vocab.unk_id]})
            if unknown:
                raise DataError(f"phonemes {unknown[:5]} are not in the model's vocabulary")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                batch = dataset[CutSet.from_cuts([cut])]
            if not batch["ids"]:  # the dataset warned "skipping cut ... so far): <reason>"
                said = str(caught[-1].message) if caught else "its audio could not be read"
                raise AudioError(said.split("so far): ", 1)[-1])
        except (AudioError, DataError) as exc:
            data.skipped.append({"id": cut.id, "reason": str(exc)})
            continue
        data.cut_ids.append(cut.id)
        data.speakers.append(int(batch["speakers"][0]))
        data.phoneme_ids.append(batch["phonemes"][0, : batch["phoneme_lens"][0]].tolist())
        data.waves.append(batch["audio"][0, : batch["audio_lens"][0]])
        data.texts.append((sup.custom or {}).get("normalized") or sup.text)
    return data


# ------------------------------------------------------------------------------------------------ synthesis
def synthesize_ids(
    model: TTSModel,
    phoneme_ids: Sequence[Sequence[int]],
    speakers: Sequence[int],
    *,
    seed: int = 0,
    batch_size: int = 16,
    guards: LengthGuards | None = None,
) -> tuple[list[torch.Tensor], list[bool]]:
    """Free-running synthesis of n id lists for their speakers, longest first in batches, the prenet's noise
    seeded once with ``seed`` -> n log-mels (100, t_i) on the CPU and whether each hit its length cap."""
    guards = guards or LengthGuards()
    device = next(model.parameters()).device
    order = sorted(range(len(phoneme_ids)), key=lambda i: -len(phoneme_ids[i]))
    mels: list[torch.Tensor | None] = [None] * len(order)
    capped = [False] * len(order)
    torch.manual_seed(seed)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        ids = pad_sequence([torch.as_tensor(phoneme_ids[i]) for i in chunk], batch_first=True,
                           padding_value=model.vocab.pad_id if model.vocab else 0).to(device)  # fmt: skip
        id_lens = torch.tensor([len(phoneme_ids[i]) for i in chunk], device=device)
        spk = torch.tensor([speakers[i] for i in chunk], device=device)
        mel, lengths, hit_cap = generate_guarded(model, ids, id_lens, spk, guards)
        for k, i in enumerate(chunk):
            mels[i] = mel[k, :, : int(lengths[k])].float().cpu()
            capped[i] = bool(hit_cap[k])
    return mels, capped  # type: ignore[return-value]


def _floor_partner(speakers: Sequence[int]) -> list[int]:
    """For each utterance, the next utterance of the same speaker (cyclically), else the next utterance."""
    n = len(speakers)
    out = []
    for i, s in enumerate(speakers):
        same = [j for j in range(i + 1, i + n) if speakers[j % n] == s]
        out.append(same[0] % n if same else (i + 1) % n)
    return out


# ----------------------------------------------------------------------------------------------- evaluation
def evaluate_tts(
    model: TTSModel,
    data: TTSEvalSet,
    vocoder: Vocoder | None,
    *,
    scraps=None,
    asr=None,
    seed: int = 0,
    batch_size: int = 16,
    guards: LengthGuards | None = None,
) -> dict[str, Any]:
    """Synthesise every utterance of ``data`` free-running and measure it and the two baselines.

    ``vocoder`` None measures mels directly (no audio); else each system's mel is vocoded and the audio analysed
    again, as a listener would get it. ``scraps`` (a :class:`ScrapsModel`) adds SCRAPS score and retrieval,
    ``asr`` (a recogniser, see :func:`scraps.evaluation.make_recognizer`) the WER. Returns the report dict
    (per utterance and aggregated per system); the model's output mels are under ``report["_mels"]``.
    """
    from scraps.evaluation import word_error_rate

    n = len(data.cut_ids)
    if n < 2:
        raise DataError(f"TTS evaluation needs at least 2 usable utterances, got {n} ({len(data.skipped)} skipped)")
    analyse = MelSpectrogram()
    ref_mels = [analyse(w[None])[0] for w in data.waves]
    out_mels, capped = synthesize_ids(model, data.phoneme_ids, data.speakers, seed=seed, batch_size=batch_size,
                                      guards=guards)  # fmt: skip
    partner = _floor_partner(data.speakers)
    systems = {"model": out_mels, "ceiling": ref_mels, "floor": [ref_mels[j] for j in partner]}
    heard: dict[str, list[torch.Tensor]] = {}
    waves: dict[str, list[torch.Tensor]] = {}
    for name, mels in systems.items():
        if vocoder is None:
            heard[name] = mels
            continue
        waves[name] = [vocoder(m[None], torch.tensor([m.shape[-1]]))[0].float() for m in mels]
        heard[name] = [analyse(w[None])[0] for w in waves[name]]
    judge = ScrapsJudge(scraps, data.phoneme_ids, seed=seed) if scraps is not None else None
    rows: list[dict[str, Any]] = [
        {"id": cid, "speaker": (model.speakers or [])[spk] if model.speakers else spk, "text": text}
        for cid, spk, text in zip(data.cut_ids, data.speakers, data.texts)
    ]
    for name in SYSTEMS:
        mels = heard[name]
        scores, ranks = judge.judge(data.phoneme_ids, mels) if judge else (None, None)
        for i, row in enumerate(rows):
            m = {
                "mcd_dtw": mcd_dtw(mels[i], ref_mels[i]),
                "length_ratio": systems[name][i].shape[-1] / ref_mels[i].shape[-1],
            }
            if name == "model":
                m["hit_cap"] = capped[i]
            if judge:
                m["scraps_score"], m["rank"] = scores[i], ranks[i]
            if asr is not None:
                audio = waves[name][i] if waves else data.waves[i if name != "floor" else partner[i]]
                m["hypothesis"] = asr.transcribe(audio)
                m["wer"] = word_error_rate(data.texts[i], m["hypothesis"])
            row[name] = m
    report = {
        "n_utterances": n,
        "n_skipped": len(data.skipped),
        "skipped": data.skipped,
        "seed": seed,
        "vocoder": vocoder.name if vocoder is not None else "none (mels measured directly)",
        "asr": getattr(asr, "description", None),
        "definitions": DEFINITIONS,
        "summary": {name: summarize([row[name] for row in rows]) for name in SYSTEMS},
        "utterances": rows,
        "_mels": out_mels,
    }
    return report


def summarize(metrics: list[dict[str, Any]]) -> dict[str, float | int | None]:
    """Per-utterance figures of one system -> aggregates (means; length-ratio spread; recall@1)."""
    ratios = np.array([m["length_ratio"] for m in metrics])
    out: dict[str, float | int | None] = {
        "mcd_dtw": float(np.mean([m["mcd_dtw"] for m in metrics])),
        "length_ratio_mean": float(ratios.mean()),
        "length_ratio_min": float(ratios.min()),
        "length_ratio_max": float(ratios.max()),
        "length_within": float(np.mean((ratios >= LENGTH_TOLERANCE[0]) & (ratios <= LENGTH_TOLERANCE[1]))),
    }
    if "hit_cap" in metrics[0]:
        out["hit_cap"] = int(sum(m["hit_cap"] for m in metrics))
    if "scraps_score" in metrics[0]:
        out["scraps_score"] = float(np.mean([m["scraps_score"] for m in metrics]))
        out["recall_at_1"] = float(np.mean([m["rank"] == 1 for m in metrics]))
    if "wer" in metrics[0]:
        out["wer"] = float(np.mean([m["wer"] for m in metrics]))
    return out


def free_running_metrics(
    model: TTSModel,
    ids: torch.Tensor,
    id_lens: torch.Tensor,
    speakers: torch.Tensor,
    reference: torch.Tensor,
    ref_lens: torch.Tensor,
    *,
    judge: ScrapsJudge | None = None,
    guards: LengthGuards | None = None,
    seed: int = 0,
    mcd: bool = True,
) -> tuple[dict[str, float], torch.Tensor, torch.Tensor]:
    """The cheap free-running figures of one batch, on mels (no vocoder), for validation during training.

    ids (b, n), id_lens (b,), speakers (b,), reference log-mels (b, 100, t) with ref_lens (b,) -> means of
    length ratio, hit_cap, MCD-DTW (with ``mcd``), SCRAPS score and recall@1 (with ``judge``), and the output
    mel (b, 100, t') with its lengths (b,).
    """
    torch.manual_seed(seed)
    mel, lengths, hit_cap = generate_guarded(model, ids, id_lens, speakers, guards or LengthGuards())
    outs = [mel[k, :, : int(lengths[k])].float().cpu() for k in range(len(lengths))]
    refs = [reference[k, :, : int(ref_lens[k])].float().cpu() for k in range(len(ref_lens))]
    metrics = {
        "free_len_ratio": float((lengths.float() / ref_lens.float()).mean()),
        "free_len_within": float(np.mean([LENGTH_TOLERANCE[0] <= len(o[0]) / len(r[0]) <= LENGTH_TOLERANCE[1]
                                          for o, r in zip(outs, refs)])),  # fmt: skip
        "free_hit_cap": float(hit_cap.float().mean()),
    }
    if mcd:
        metrics["free_mcd_dtw"] = float(np.mean([mcd_dtw(o, r) for o, r in zip(outs, refs)]))
    if judge is not None:
        id_lists = [ids[k, : int(id_lens[k])].tolist() for k in range(len(id_lens))]
        scores, ranks = judge.judge(id_lists, outs)
        metrics["scraps_score"] = float(np.mean(scores))
        metrics["scraps_recall_at_1"] = float(np.mean([r == 1 for r in ranks]))
    return metrics, mel, lengths


__all__ = [
    "DEFINITIONS", "ScrapsJudge", "TTSEvalSet", "dtw_mean_cost", "evaluate_tts", "free_running_metrics",
    "load_tts_eval_set", "mcd_dtw", "mel_cepstra", "summarize", "synthesize_ids",
]
