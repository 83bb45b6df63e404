"""Evaluation of SCRAPS: pair scoring, retrieval, phoneme-substitution sensitivity, noise robustness, ASR agreement.

Everything embeds through :meth:`ScrapsModel.embed_phonemes` / :meth:`ScrapsModel.embed_audio` in padded batches
of similar length (the model is padding-invariant, so an item gets the embedding it gets alone) and scores a pair
as the cosine of its two embeddings, i.e. :meth:`ScrapsModel.score`. Every random draw comes from a generator
seeded by (seed, condition, utterance), so a report depends on the seed only, not on batch size or order.
"""
from __future__ import annotations

import importlib.metadata
import json
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from lhotse import CutSet
from torch.nn.utils.rnn import pad_sequence

from scraps.audio import SAMPLE_RATE, AudioError, frames_to_samples, num_frames, resample
from scraps.audio.augment import colored_noise, mix_at_snr
from scraps.data.dataset import SpeechDataset
from scraps.data.prepare import DataError
from scraps.export import ModelDirError
from scraps.model import ScrapsModel
from scraps.progress import progress as progress_bar
from scraps.text import TextError, TextFrontend

MIN_AUDIO_SECONDS = 0.05  # 1200 samples = 5 mel frames; shorter clips hold no phone worth scoring
SUBSTITUTION_RATES = (0.05, 0.1, 0.2, 0.3, 0.5)
NOISE_WEIGHTS = (0.25, 0.5, 0.75)
SNRS_DB = (20, 10, 5, 0)
RETRIEVAL_WAY = 32
_REL_EPS = 1e-6  # floor of |old score| in a relative change

# Seed keys of the random streams (one per kind of draw).
_SUBSTITUTION, _GAUSS, _WHITE, _RETRIEVAL = range(4)

DEFINITIONS = {
    "score": "SCRAPS score = cosine of the L2-normalised phonetic and acoustic embeddings, in [-1, 1]",
    "retrieval": "rank of the true match among all n candidates (p2a: phonemes -> audio, a2p: audio -> phonemes); "
    "r1/r5 = fraction of queries ranked 1st / within the first 5",
    "retrieval_32way": "each query ranked among its match and 31 other candidates drawn at random "
    "(all n - 1 others when n < 32)",
    "substitution": "exactly round(rate * n) of an utterance's n phones (vocab.phoneme_ids(): never specials, word "
    "boundaries, punctuation or stress/length marks) replaced by a different random phone; scored against the "
    "clean audio",
    "fell_rose": "fraction of utterances whose score fell / rose compared with the clean pair",
    "relative_change": "mean over utterances of (new - old) / |old| (|old| floored at 1e-6); negative = a drop",
    "gauss": "x' = (1 - a) * x + a * rms(x) * n, n ~ N(0, 1) per sample (one draw per utterance, shared by all a), "
    "rms over the utterance; scored against the clean phonemes",
    "snr": "white noise added at the given SNR (scraps.audio.augment.mix_at_snr) over the utterance; one draw per "
    "utterance, shared by all SNRs",
}


# ------------------------------------------------------------------------------------------------ retrieval
def similarity(e_p: torch.Tensor, e_a: torch.Tensor) -> torch.Tensor:
    """L2-normalised e_p (n, e), e_a (n, e) -> cosine matrix (n, n); row i = phonemes i against every audio."""
    return e_p.float() @ e_a.float().T


def pair_scores(e_p: torch.Tensor, e_a: torch.Tensor) -> torch.Tensor:
    """L2-normalised e_p (n, e), e_a (n, e) -> (n,) SCRAPS score of each pair (the diagonal of ``similarity``)."""
    return (e_p.float() * e_a.float()).sum(-1)


def ranks(sim: torch.Tensor) -> torch.Tensor:
    """(n, n) similarities -> (n,) 1-based rank of the true match (the diagonal) in each row."""
    true = sim.diagonal()[:, None]
    return (sim > true).sum(dim=1) + 1


def _rank_summary(r: torch.Tensor) -> dict[str, float]:
    r = r.float()
    return {
        "r1": float((r <= 1).float().mean()),
        "r5": float((r <= 5).float().mean()),
        "median_rank": float(r.median()),
    }


def retrieval_metrics(e_p: torch.Tensor, e_a: torch.Tensor) -> dict[str, dict[str, float]]:
    """Recall@1, recall@5 and median rank in both directions: p2a (phonemes -> audio) and a2p.

    e_p, e_a: (n, e) L2-normalised embeddings of n matching pairs.
    """
    sim = similarity(e_p, e_a)
    return {"p2a": _rank_summary(ranks(sim)), "a2p": _rank_summary(ranks(sim.T))}


def subset_retrieval_metrics(
    e_p: torch.Tensor, e_a: torch.Tensor, way: int = RETRIEVAL_WAY, generator: torch.Generator | None = None
) -> dict[str, dict[str, float]]:
    """Like :func:`retrieval_metrics`, but each query i competes with its match and ``way - 1`` random others.

    e_p, e_a: (n, e). The distractors of query i are drawn without replacement from the n - 1 other items (all
    of them when n < way) and serve both directions.
    """
    n = e_p.shape[0]
    k = min(way, n) - 1
    sim = similarity(e_p, e_a)
    others = torch.stack([torch.randperm(n - 1, generator=generator)[:k] for _ in range(n)])  # (n, k)
    others = others + (others >= torch.arange(n)[:, None]).long()  # skip the query itself
    true = sim.diagonal()[:, None]
    p2a = (sim.gather(1, others) > true).sum(1) + 1
    a2p = (sim.T.gather(1, others) > true).sum(1) + 1
    return {"p2a": _rank_summary(p2a), "a2p": _rank_summary(a2p)}


# ------------------------------------------------------------------------------------------- inputs + checks
def check_audio(wav: torch.Tensor, model: ScrapsModel, what: str) -> None:
    """Raise :class:`AudioError` unless ``wav`` (samples,) at 24 kHz is between MIN_AUDIO_SECONDS and the longest
    audio the model's acoustic positions cover. ``what`` names the audio in the message."""
    seconds = wav.shape[-1] / SAMPLE_RATE
    if seconds < MIN_AUDIO_SECONDS:
        raise AudioError(
            f"audio too short: {what} lasts {seconds:.3f} s; SCRAPS scores clips of at least {MIN_AUDIO_SECONDS} s"
        )
    max_frames = model.config.acoustic.max_len * model.config.subsample
    if num_frames(wav.shape[-1]) > max_frames:
        limit = frames_to_samples(max_frames) / SAMPLE_RATE
        raise AudioError(
            f"audio too long: {what} lasts {seconds:.1f} s; this model reads at most {limit:.1f} s, cut it"
        )


def _check_ids(ids: list[int], model: ScrapsModel, what: str) -> list[int]:
    if len(ids) > model.config.phonetic.max_len:
        raise TextError(
            f"text too long: {what} gives {len(ids)} phoneme tokens, this model reads at most "
            f"{model.config.phonetic.max_len}; split it"
        )
    return ids


def model_frontend(model: ScrapsModel) -> TextFrontend:
    """The text frontend stored in the model's export (``config.yaml: frontend``)."""
    if not model.frontend_config:
        raise ModelDirError(
            "the model export holds no text frontend settings (config.yaml 'frontend' is empty); score phonemes "
            "instead of text, or re-export it with save_pretrained(frontend_config=TextFrontend.config())"
        )
    try:
        return TextFrontend.from_config(model.frontend_config)
    except ValueError as exc:
        raise ModelDirError(f"the model export's text frontend settings are unusable: {exc}") from None


def encode_text(model: ScrapsModel, frontend: TextFrontend, text: str) -> list[int]:
    """Text -> the model's phoneme ids (bos ... eos); :class:`TextError` when nothing is pronounceable."""
    return _check_ids(model.vocab.encode(frontend.phonemize(text)), model, repr(text[:40]))


def encode_phonemes(model: ScrapsModel, phonemes: str) -> list[int]:
    """Space-separated vocabulary symbols (e.g. "h ə l ˈ oʊ") -> ids (bos ... eos).

    Raises :class:`TextError` for a symbol outside the model's vocabulary (or a special such as ``<pad>``) and for
    input without a single phone.
    """
    vocab = model.vocab
    symbols = phonemes.split()
    specials = {vocab.PAD, vocab.BOS, vocab.EOS, vocab.UNK}
    unknown = sorted({s for s in symbols if s not in vocab.symbols or s in specials})
    if unknown:
        raise TextError(
            f"phonemes {unknown} are not in the model's vocabulary; give space-separated symbols from its "
            f"vocab.json (e.g. {' '.join(vocab.symbols[len(specials) + 1 : len(specials) + 9])})"
        )
    phones = {vocab.symbols[i] for i in vocab.phoneme_ids()}
    if not any(s in phones for s in symbols):
        raise TextError(
            f"phonemes {phonemes[:60]!r} hold no phone (only boundaries, punctuation or marks); give phones"
        )
    return _check_ids(vocab.encode(symbols), model, "the phonemes")


# ------------------------------------------------------------------------------------------------- embedding
def _device(model: ScrapsModel) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def _embed_sorted(
    embed: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    seqs: Sequence[torch.Tensor],
    pad_value: float,
    batch_size: int,
    device: torch.device,
) -> torch.Tensor:
    """Embed 1-D ``seqs`` in padded batches of similar length -> (n, e) in input order."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    out = []
    for chunk in chunks:
        batch = pad_sequence([seqs[i] for i in chunk], batch_first=True, padding_value=pad_value)
        lengths = torch.tensor([len(seqs[i]) for i in chunk])
        out.append(embed(batch.to(device), lengths.to(device)).float().cpu())
    embedded = torch.cat(out)
    result = torch.empty_like(embedded)
    result[torch.tensor(order)] = embedded
    return result


def embed_phoneme_ids(model: ScrapsModel, ids: Sequence[Sequence[int]], batch_size: int = 64) -> torch.Tensor:
    """n id lists (bos ... eos) -> (n, e) phonetic embeddings."""
    seqs = [torch.as_tensor(i, dtype=torch.long) for i in ids]
    return _embed_sorted(model.embed_phonemes, seqs, model.vocab.pad_id, batch_size, _device(model))


def embed_waves(model: ScrapsModel, waves: Sequence[torch.Tensor], batch_size: int = 16) -> torch.Tensor:
    """n waveforms (samples,) at 24 kHz -> (n, e) acoustic embeddings."""
    return _embed_sorted(model.embed_audio, waves, 0.0, batch_size, _device(model))


def score_ids_audios(
    model: ScrapsModel, ids: Sequence[Sequence[int]], waves: Sequence[torch.Tensor], batch_size: int = 16
) -> list[float]:
    """SCRAPS score of each (phoneme ids, 24 kHz waveform (samples,)) pair, batched -> n floats."""
    if not ids:
        return []
    return pair_scores(embed_phoneme_ids(model, ids, batch_size), embed_waves(model, waves, batch_size)).tolist()


def score_texts_audios(
    model: ScrapsModel,
    texts: Sequence[str],
    waves: Sequence[torch.Tensor],
    sr: int = SAMPLE_RATE,
    frontend: TextFrontend | None = None,
    batch_size: int = 16,
) -> list[float]:
    """SCRAPS score of each (text, waveform (samples,) at ``sr``) pair -> n floats.

    Texts go through ``frontend`` (default: the one stored in the model's export). Raises :class:`TextError` /
    :class:`AudioError` naming the first unusable item.
    """
    if len(texts) != len(waves):
        raise ValueError(f"score_texts_audios got {len(texts)} texts but {len(waves)} waveforms")
    frontend = frontend or model_frontend(model)
    ids = [encode_text(model, frontend, t) for t in texts]
    waves = [resample(w, sr) for w in waves]
    for i, w in enumerate(waves):
        check_audio(w, model, f"item {i}")
    return score_ids_audios(model, ids, waves, batch_size)


# ----------------------------------------------------------------------------------------------- corruption
def seeded_generator(*keys: int) -> torch.Generator:
    """A CPU generator seeded from non-negative integer ``keys`` (e.g. seed, condition, utterance index)."""
    state = np.random.SeedSequence(list(keys)).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def substitute_phonemes(
    ids: Sequence[int], rate: float, phone_ids: Sequence[int], generator: torch.Generator
) -> list[int]:
    """Replace exactly round(rate * n) of the n tokens of ``ids`` that are in ``phone_ids`` (positions drawn
    without replacement) by a different phone drawn uniformly from ``phone_ids``. Other tokens are never touched."""
    phones = sorted(set(phone_ids))
    index = {p: i for i, p in enumerate(phones)}
    positions = [i for i, t in enumerate(ids) if t in index]
    out = list(ids)
    for p in torch.randperm(len(positions), generator=generator)[: round(rate * len(positions))].tolist():
        draw = int(torch.randint(len(phones) - 1, (1,), generator=generator))
        out[positions[p]] = phones[draw + (draw >= index[out[positions[p]]])]
    return out


def rms(x: torch.Tensor) -> torch.Tensor:
    """x (..., s) -> (..., 1) root mean square over the last axis."""
    return x.pow(2).mean(-1, keepdim=True).sqrt()


def mix_gaussian(wav: torch.Tensor, weight: float, noise: torch.Tensor) -> torch.Tensor:
    """wav (..., s), noise (..., s) ~ N(0, 1) -> (1 - weight) * wav + weight * rms(wav) * noise, same shape."""
    return (1.0 - weight) * wav + weight * rms(wav) * noise


def _noise_conditions(seed: int) -> dict[str, Callable[[int, torch.Tensor], torch.Tensor]]:
    """{report key: (utterance index, clean wav (s,)) -> noisy wav (s,)} for every robustness condition."""

    def gauss(a: float) -> Callable[[int, torch.Tensor], torch.Tensor]:
        def corrupt(i: int, wav: torch.Tensor) -> torch.Tensor:
            return mix_gaussian(wav, a, torch.randn(wav.shape, generator=seeded_generator(seed, _GAUSS, i)))

        return corrupt

    def snr(db: int) -> Callable[[int, torch.Tensor], torch.Tensor]:
        def corrupt(i: int, wav: torch.Tensor) -> torch.Tensor:
            noise = colored_noise((1, len(wav)), "white", generator=seeded_generator(seed, _WHITE, i))
            return mix_at_snr(wav[None], noise, torch.tensor([float(db)]))[0]

        return corrupt

    return {**{f"gauss_{a}": gauss(a) for a in NOISE_WEIGHTS}, **{f"snr_{db}": snr(db) for db in SNRS_DB}}


def _changes(new: torch.Tensor, old: torch.Tensor) -> dict[str, float]:
    relative = (new - old) / old.abs().clamp(min=_REL_EPS)
    return {
        "fell": float((new < old).float().mean()),
        "rose": float((new > old).float().mean()),
        "mean_relative_change": float(relative.mean()),
        "mean_score": float(new.mean()),
        "std_score": float(new.std(unbiased=False)),
    }


# ------------------------------------------------------------------------------------------------------- ASR
class Recognizer(Protocol):
    """Speech recogniser used for the score/WER correlation."""

    description: str

    def transcribe(self, wav: torch.Tensor) -> str:
        """wav (samples,) at 24 kHz -> lower-case words."""
        ...


class ASRUnavailable(RuntimeError):
    """The requested speech recogniser cannot run here."""


class PocketsphinxASR:
    """Offline CMU PocketSphinx 5 with its bundled US-English acoustic model, dictionary and trigram LM (16 kHz)."""

    SAMPLE_RATE = 16000

    def __init__(self) -> None:
        try:
            import pocketsphinx
        except ImportError:
            raise ASRUnavailable(
                "pocketsphinx is not installed; install the extra with `pip install 'scraps-tts[eval]'`"
            ) from None
        self._decoder = pocketsphinx.Decoder(samprate=self.SAMPLE_RATE, loglevel="FATAL")
        self.description = (
            f"pocketsphinx {importlib.metadata.version('pocketsphinx')}, bundled en-us model + generic trigram LM: a coarse recogniser (tens of % WER "
            "on clean read speech, worse on synthetic voices); read the correlation's sign and size, not its decimals"
        )

    def transcribe(self, wav: torch.Tensor) -> str:
        """wav (samples,) at 24 kHz -> lower-case words ("" when nothing was recognised)."""
        pcm = (resample(wav, SAMPLE_RATE, self.SAMPLE_RATE).clamp(-1, 1) * 32767).to(torch.int16)
        self._decoder.start_utt()
        self._decoder.process_raw(pcm.numpy().tobytes(), full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


def make_recognizer(name: str) -> Recognizer:
    """The recogniser called ``name`` (only "pocketsphinx")."""
    if name != "pocketsphinx":
        raise ASRUnavailable(f"unknown ASR {name!r}; the only one supported is 'pocketsphinx'")
    return PocketsphinxASR()


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9']+", " ", text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance / reference words (lower-cased, punctuation dropped); may exceed 1."""
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(len(ref), 1)


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
    ends = np.r_[starts[1:], len(x)]
    out = np.empty(len(x))
    for s, e in zip(starts, ends):
        out[order[s:e]] = (s + e + 1) / 2  # mean of the 1-based ranks s+1..e
    return out


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman rank correlation (ties get average ranks); None when either side is constant."""
    rx, ry = _average_ranks(np.asarray(x, float)), _average_ranks(np.asarray(y, float))
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


# ------------------------------------------------------------------------------------------------ evaluation
@dataclass
class EvalSet:
    """Utterances of a test manifest ready to score: ids (bos ... eos) in the model's vocabulary, 24 kHz audio."""

    cut_ids: list[str] = field(default_factory=list)
    phoneme_ids: list[list[int]] = field(default_factory=list)
    waves: list[torch.Tensor] = field(default_factory=list)
    references: list[str] = field(default_factory=list)  # spoken-form text ("normalized"), for WER
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"id", "reason"}


def load_eval_set(cuts: CutSet, model: ScrapsModel) -> EvalSet:
    """Read every cut through :class:`SpeechDataset`; unusable cuts are skipped with their reason."""
    dataset = SpeechDataset(model.vocab)
    data = EvalSet()
    for cut in cuts:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                batch = dataset[CutSet.from_cuts([cut])]
            if not batch["ids"]:
                raise AudioError(str(caught[-1].message) if caught else "its audio could not be read")
            wav = batch["audio"][0, : batch["audio_lens"][0]]
            ids = batch["phonemes"][0, : batch["phoneme_lens"][0]].tolist()
            check_audio(wav, model, f"cut {cut.id!r}")
            _check_ids(ids, model, f"cut {cut.id!r}")
        except (AudioError, TextError, DataError) as exc:
            data.skipped.append({"id": cut.id, "reason": str(exc)})
            continue
        sup = cut.supervisions[0]
        data.cut_ids.append(cut.id)
        data.phoneme_ids.append(ids)
        data.waves.append(wav)
        data.references.append((sup.custom or {}).get("normalized") or sup.text)
    return data


def evaluate(
    model: ScrapsModel,
    data: EvalSet,
    seed: int = 0,
    batch_size: int = 16,
    asr: Recognizer | None = None,
    asr_utts: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Retrieval, substitution sensitivity, noise robustness (and score/WER agreement with ``asr``) -> report dict.

    ``asr`` decodes the first ``asr_utts`` utterances (all when None), clean and under every noise condition.
    See :data:`DEFINITIONS` (stored in the report) for what each number means.
    """
    n = len(data.waves)
    if n < 2:
        raise DataError(f"evaluation needs at least 2 usable utterances, got {n} ({len(data.skipped)} skipped)")
    conditions = _noise_conditions(seed)
    m = min(n, asr_utts or n) if asr else 0
    steps = 1 + len(SUBSTITUTION_RATES) + len(conditions) + m * (1 + len(conditions))
    bar = progress_bar(total=steps, desc="evaluate", disable=not progress)

    def word_error_rates(waves: list[torch.Tensor]) -> list[float]:
        out = []
        for reference, wav in zip(data.references[:m], waves[:m]):
            out.append(word_error_rate(reference, asr.transcribe(wav)))
            bar.update()
        return out

    e_p = embed_phoneme_ids(model, data.phoneme_ids, batch_size)
    e_a = embed_waves(model, data.waves, batch_size)
    bar.update()
    clean = pair_scores(e_p, e_a)
    off_diagonal = similarity(e_p, e_a)[~torch.eye(n, dtype=torch.bool)]
    report: dict[str, Any] = {
        "seed": seed,
        "n_utterances": n,
        "n_skipped": len(data.skipped),
        "skipped": data.skipped,
        "definitions": DEFINITIONS,
        "scores": {
            "matched_mean": float(clean.mean()),
            "matched_std": float(clean.std(unbiased=False)),
            "mismatched_mean": float(off_diagonal.mean()),
        },
        "retrieval": retrieval_metrics(e_p, e_a),
        "retrieval_32way": {
            **subset_retrieval_metrics(e_p, e_a, RETRIEVAL_WAY, seeded_generator(seed, _RETRIEVAL)),
            "way": min(RETRIEVAL_WAY, n),
        },
        "sensitivity": {},
        "robustness": {},
    }

    phone_ids = model.vocab.phoneme_ids()
    for k, rate in enumerate(SUBSTITUTION_RATES):
        bar.set_postfix_str(f"substitution {rate}")
        corrupted = [
            substitute_phonemes(ids, rate, phone_ids, seeded_generator(seed, _SUBSTITUTION, k, i))
            for i, ids in enumerate(data.phoneme_ids)
        ]
        new = pair_scores(embed_phoneme_ids(model, corrupted, batch_size), e_a)
        report["sensitivity"][str(rate)] = _changes(new, clean)
        bar.update()

    scores = {"clean": clean.tolist()}
    wer = {"clean": word_error_rates(data.waves)} if asr else {}
    for key, corrupt in conditions.items():
        bar.set_postfix_str(key)
        noisy = [corrupt(i, w) for i, w in enumerate(data.waves)]
        new = pair_scores(e_p, embed_waves(model, noisy, batch_size))
        report["robustness"][key] = _changes(new, clean)
        scores[key] = new.tolist()
        bar.update()
        if asr:
            wer[key] = word_error_rates(noisy)
    bar.close()

    if asr:
        all_scores = [s for key in wer for s in scores[key][:m]]
        all_wer = [w for key in wer for w in wer[key]]
        report["asr"] = {
            "engine": asr.description,
            "n_utterances": m,
            "reference": "supervision custom 'normalized' (spoken form); lower-cased, punctuation dropped",
            "conditions": list(wer),
            "mean_wer": {key: float(np.mean(v)) for key, v in wer.items()},
            "spearman_score_wer": spearman(all_scores, all_wer),
            "n_pairs": len(all_wer),
            "pairs": {"score": all_scores, "wer": all_wer},
        }
    return _rounded(report)


def _rounded(x: Any) -> Any:
    """Floats rounded to 6 decimals throughout (stable, readable JSON)."""
    if isinstance(x, float):
        return round(x, 6)
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    return x


# ---------------------------------------------------------------------------------------------------- output
def _markdown(report: dict[str, Any]) -> str:
    def pct(x: float) -> str:
        return f"{100 * x:.1f} %"

    lines = [
        "# SCRAPS evaluation",
        "",
        f"Model `{report.get('model', '?')}`, {report['n_utterances']} utterances of `{report.get('cuts', '?')}` "
        f"({report['n_skipped']} skipped), seed {report['seed']}. Mean score: matched "
        f"{report['scores']['matched_mean']:.3f}, mismatched {report['scores']['mismatched_mean']:.3f}.",
        "",
        "| retrieval | p2a R@1 | p2a R@5 | p2a med. rank | a2p R@1 | a2p R@5 | a2p med. rank |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, key in (("whole set", "retrieval"), (f"{report['retrieval_32way']['way']}-way", "retrieval_32way")):
        r = report[key]
        lines.append(
            f"| {name} | " + " | ".join(
                f"{pct(r[d]['r1'])} | {pct(r[d]['r5'])} | {r[d]['median_rank']:g}" for d in ("p2a", "a2p")
            ) + " |"
        )
    lines += ["", "| phones substituted | score fell | score rose | mean relative change |", "|---|---|---|---|"]
    for rate, s in report["sensitivity"].items():
        lines.append(f"| {pct(float(rate))} | {pct(s['fell'])} | {pct(s['rose'])} | {pct(s['mean_relative_change'])} |")
    lines += ["", "| noise | mean relative change | mean score |", "|---|---|---|"]
    for key, s in report["robustness"].items():
        kind, level = key.split("_")
        label = f"Gaussian, a = {level}" if kind == "gauss" else f"white, SNR {level} dB"
        lines.append(f"| {label} | {pct(s['mean_relative_change'])} | {s['mean_score']:.3f} |")
    if "asr" in report:
        asr = report["asr"]
        rho = asr["spearman_score_wer"]
        lines += [
            "",
            f"Spearman correlation of SCRAPS score and WER over {asr['n_pairs']} (utterance, noise condition) pairs "
            f"({asr['n_utterances']} utterances, clean and noisy): "
            f"**{'undefined (constant WER or score)' if rho is None else f'{rho:.3f}'}**; clean WER "
            f"{pct(asr['mean_wer']['clean'])}. ASR: {asr['engine']}.",
        ]
    lines += ["", "Definitions:", ""] + [f"- {k}: {v}" for k, v in report["definitions"].items()]
    return "\n".join(lines) + "\n"


def _plot_corruption(report: dict[str, Any], path: Path) -> None:
    from matplotlib.figure import Figure

    clean = report["scores"]
    fig = Figure(figsize=(13, 4), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    panels = [
        ("phones substituted (fraction)", [0.0] + [float(r) for r in report["sensitivity"]],
         list(report["sensitivity"].values()), None),
        ("Gaussian noise weight a", [0.0, *NOISE_WEIGHTS], [report["robustness"][f"gauss_{a}"] for a in NOISE_WEIGHTS],
         None),
        ("white noise SNR (dB)", list(range(len(SNRS_DB) + 1)), [report["robustness"][f"snr_{d}"] for d in SNRS_DB],
         ["clean", *map(str, SNRS_DB)]),
    ]  # fmt: skip
    for ax, (label, x, stats, ticks) in zip(axes, panels):
        mean = [clean["matched_mean"]] + [s["mean_score"] for s in stats]
        std = [clean["matched_std"]] + [s["std_score"] for s in stats]
        ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, label="matched pairs (mean ± sd)")
        ax.axhline(clean["mismatched_mean"], color="grey", linestyle="--", label="mismatched pairs (mean)")
        ax.set_xlabel(label)
        if ticks:
            ax.set_xticks(x, ticks)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("SCRAPS score")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.suptitle(f"SCRAPS score against corruption ({report['n_utterances']} utterances, seed {report['seed']})")
    fig.savefig(path, dpi=100)


def _plot_asr(report: dict[str, Any], path: Path) -> None:
    from matplotlib.figure import Figure

    asr = report["asr"]
    fig = Figure(figsize=(5, 4), layout="constrained")
    ax = fig.subplots()
    m = asr["n_utterances"]
    for k, condition in enumerate(asr["conditions"]):
        part = slice(k * m, (k + 1) * m)
        ax.scatter(asr["pairs"]["score"][part], asr["pairs"]["wer"][part], s=14, alpha=0.7, label=condition)
    ax.legend(fontsize=7)
    ax.set_xlabel("SCRAPS score")
    ax.set_ylabel("word error rate")
    rho = asr["spearman_score_wer"]
    ax.set_title(f"Spearman {'n/a' if rho is None else f'{rho:.3f}'} over {asr['n_pairs']} pairs")
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=100)


def write_report(report: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write report.json, report.md, corruption.png (and score_vs_wer.png with ASR) -> the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "report.json", out_dir / "report.md", out_dir / "corruption.png"]
    paths[0].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    paths[1].write_text(_markdown(report))
    _plot_corruption(report, paths[2])
    if "asr" in report:
        paths.append(out_dir / "score_vs_wer.png")
        _plot_asr(report, paths[-1])
    return paths
