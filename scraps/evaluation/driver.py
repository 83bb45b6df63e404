"""The SCRAPS evaluation of a test set: retrieval, phoneme-substitution sensitivity, noise robustness and, with a
recogniser, score/WER agreement, as one report dict (:func:`evaluate`)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from lhotse import CutSet

from scraps.audio import AudioError
from scraps.data.dataset import SpeechDataset
from scraps.data.prepare import DataError
from scraps.evaluation.asr import Recognizer
from scraps.evaluation.corruptions import (
    _RETRIEVAL,
    _SUBSTITUTION,
    SUBSTITUTION_RATES,
    noise_conditions,
    seeded_generator,
    substitute_phonemes,
)
from scraps.evaluation.embed import embed_phoneme_ids, embed_waves
from scraps.evaluation.inputs import check_audio
from scraps.evaluation.metrics import (
    RETRIEVAL_WAY,
    pair_scores,
    retrieval_metrics,
    score_changes,
    similarity,
    spearman,
    subset_retrieval_metrics,
    word_error_rate,
)
from scraps.progress import progress as progress_bar
from scraps.text import TextError

if TYPE_CHECKING:
    from scraps.model import ScrapsModel

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
            model.check_ids(ids, f"cut {cut.id!r}")
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
    conditions = noise_conditions(seed)
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
        report["sensitivity"][str(rate)] = score_changes(new, clean)
        bar.update()

    scores = {"clean": clean.tolist()}
    wer = {"clean": word_error_rates(data.waves)} if asr else {}
    for key, corrupt in conditions.items():
        bar.set_postfix_str(key)
        noisy = [corrupt(i, w) for i, w in enumerate(data.waves)]
        new = pair_scores(e_p, embed_waves(model, noisy, batch_size))
        report["robustness"][key] = score_changes(new, clean)
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
    return rounded(report)


def rounded(x: Any) -> Any:
    """Floats rounded to 6 decimals throughout (stable, readable JSON)."""
    if isinstance(x, float):
        return round(x, 6)
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [rounded(v) for v in x]
    return x
