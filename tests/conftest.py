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


@pytest.fixture(scope="session")
def fsdd() -> Path:
    path = SHARED_DATA / "fsdd"
    if not (path / "recordings").is_dir():
        pytest.skip(f"real FSDD digits not found at {path} (they ship in ../shared/data beside the repo)")
    return path


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """Prepared manifests of a tiny offline espeak corpus (2 speakers x 10 utterances), shared by training tests."""
    from scraps.data.demo import write_demo_corpus
    from scraps.data.prepare import prepare_csv
    from scraps.text import TextFrontend

    root = tmp_path_factory.mktemp("tiny_corpus")
    write_demo_corpus(root / "corpus", num_speakers=2, utts_per_speaker=10, seed=3)
    prepare_csv(root / "corpus" / "metadata.csv", root / "manifests", TextFrontend(normalize=False),
                num_dev=4, num_test=2, seed=0)
    return root / "manifests"
