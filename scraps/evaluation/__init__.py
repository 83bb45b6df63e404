"""Evaluation of SCRAPS: pair scoring, retrieval, phoneme-substitution sensitivity, noise robustness, ASR agreement.

Everything embeds through :meth:`ScrapsModel.embed_phonemes` / :meth:`ScrapsModel.embed_audio` in padded batches
of similar length (the model is padding-invariant, so an item gets the embedding it gets alone) and scores a pair
as the cosine of its two embeddings, i.e. :meth:`ScrapsModel.score`. Every random draw comes from a generator
seeded by (seed, condition, utterance), so a report depends on the seed only, not on batch size or order.

One module per role:

- :mod:`~scraps.evaluation.metrics`: cosine matrices, retrieval ranks, score changes, WER, Spearman
- :mod:`~scraps.evaluation.inputs`: checks of audio and encoding of phoneme strings for a model
- :mod:`~scraps.evaluation.embed`: batched embedding and scoring
- :mod:`~scraps.evaluation.corruptions`: phoneme substitution and noise, seeded
- :mod:`~scraps.evaluation.asr`: the recogniser protocol and PocketSphinx
- :mod:`~scraps.evaluation.driver`: :class:`EvalSet`, :func:`load_eval_set`, :func:`evaluate`
- :mod:`~scraps.evaluation.report`: :func:`write_report` (JSON, Markdown, PNG)

The names below are importable from ``scraps.evaluation`` itself; each is loaded with its module on first use
(PEP 562), so importing one metric does not load the rest.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "RETRIEVAL_WAY": "metrics",
    "pair_scores": "metrics",
    "ranks": "metrics",
    "retrieval_metrics": "metrics",
    "similarity": "metrics",
    "spearman": "metrics",
    "subset_retrieval_metrics": "metrics",
    "word_error_rate": "metrics",
    "MIN_AUDIO_SECONDS": "inputs",
    "check_audio": "inputs",
    "encode_phonemes": "inputs",
    "embed_phoneme_ids": "embed",
    "embed_waves": "embed",
    "score_ids_audios": "embed",
    "score_texts_audios": "embed",
    "NOISE_WEIGHTS": "corruptions",
    "SNRS_DB": "corruptions",
    "SUBSTITUTION_RATES": "corruptions",
    "_SUBSTITUTION": "corruptions",
    "mix_gaussian": "corruptions",
    "rms": "corruptions",
    "seeded_generator": "corruptions",
    "substitute_phonemes": "corruptions",
    "ASRUnavailable": "asr",
    "PocketsphinxASR": "asr",
    "Recognizer": "asr",
    "make_recognizer": "asr",
    "DEFINITIONS": "driver",
    "EvalSet": "driver",
    "evaluate": "driver",
    "load_eval_set": "driver",
    "plot_score_vs_wer": "report",
    "write_report": "report",
}
__all__ = sorted(name for name in _EXPORTS if not name.startswith("_"))


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'scraps.evaluation' has no attribute {name!r}")
    return getattr(import_module(f"scraps.evaluation.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
