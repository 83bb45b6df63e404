"""Shared test fixtures: paths to the real speech in ../shared/data (skipped with a reason when absent)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# Small test models run fastest on one thread (and a second OpenMP thread stalls when the CPU is shared).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def ljspeech_subset() -> Path:
    path = SHARED_DATA / "ljspeech_subset"
    if not (path / "metadata.csv").is_file():
        pytest.skip(f"real LJSpeech subset not found at {path} (it ships in ../shared/data beside the repo)")
    return path
