"""Corpora -> checked, phonemised lhotse manifests; the dataset, sampler and dataloader that read them.

Names are imported on first use (PEP 562), so ``import scraps.data`` stays light and
``python -m scraps.data.prepare`` runs its module once. The espeak-ng demo corpus is :mod:`scraps.data.demo`
(its sentences: :mod:`scraps.data.demo_sentences`).
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "DataError": "scraps.data.prepare",
    "frontend_for_data": "scraps.data.prepare",
    "load_cuts": "scraps.data.prepare",
    "prepare_csv": "scraps.data.prepare",
    "prepare_ljspeech": "scraps.data.prepare",
    "SpeechDataset": "scraps.data.dataset",
    "make_dataloader": "scraps.data.dataset",
    "make_sampler": "scraps.data.dataset",
    "speaker_map_from_cuts": "scraps.data.dataset",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'scraps.data' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
