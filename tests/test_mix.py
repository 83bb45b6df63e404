"""scraps.data.mix: prepared corpora mixed with lhotse, every corpus' cuts and speakers kept apart."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lhotse import CutSet

from scraps.data.mix import MixPart, mix_corpora, take_fraction
from scraps.data.prepare import REPORT_NAME, DataError, frontend_for_data, load_cuts


def speakers(cuts: CutSet) -> set[str]:
    return {s.speaker for c in cuts for s in c.supervisions}


@pytest.fixture(scope="module")
def two_corpora(tiny_corpus, tmp_path_factory) -> tuple[Path, Path]:
    """The tiny prepared corpus twice, under two folders: the same cut ids and speakers in both, as when one
    corpus is prepared twice or two corpora name their speakers alike."""
    root = tmp_path_factory.mktemp("corpora")
    a, b = root / "a", root / "b"
    shutil.copytree(tiny_corpus, a)
    shutil.copytree(tiny_corpus, b)
    return a, b


def test_mix_keeps_every_corpus_cuts_and_speakers_apart(two_corpora, tmp_path):
    a, b = two_corpora
    parts = [MixPart("real", a, {"train": "train", "dev": "dev", "test": "test"}),
             MixPart("synth", b, {"train": "train", "dev": "dev"})]
    mixed = mix_corpora(parts, tmp_path / "mix", seed=0)
    for split in ("train", "dev"):
        original = load_cuts(a, split)
        cuts = mixed[split]
        assert len(cuts) == 2 * len(original)
        assert len({c.id for c in cuts}) == len(cuts)  # same ids in both corpora, unique after the mix
        assert {c.id for c in cuts} == {f"{p}_{c.id}" for p in ("real", "synth") for c in original}
        assert speakers(cuts) == {f"{p}_{s}" for p in ("real", "synth") for s in speakers(original)}
        for c in cuts:  # recording and supervision ids follow the cut's
            assert c.recording.id == c.id and all(s.id == c.id and s.recording_id == c.id for s in c.supervisions)
            assert c.supervisions[0].custom["phonemes"]
    assert {c.id for c in mixed["test"]} == {f"real_{c.id}" for c in load_cuts(a, "test")}
    # the train manifest interleaves the corpora (lhotse mux) instead of listing one after the other
    order = [c.id.split("_")[0] for c in mixed["train"]]
    assert order[: len(order) // 2].count("real") not in (0, len(order) // 2)
    report = json.loads((tmp_path / "mix" / REPORT_NAME).read_text())
    assert report["splits"] == {s: len(c) for s, c in mixed.items()}
    assert report["corpora"]["real"]["speakers"] == sorted(f"real_{s}" for s in speakers(load_cuts(a, "train")))
    assert "test" not in report["corpora"]["synth"]
    assert frontend_for_data(tmp_path / "mix").config() == json.loads((a / REPORT_NAME).read_text())["frontend"]
    # the mixed manifests read back the same, and a rerun reuses them
    assert [c.id for c in load_cuts(tmp_path / "mix", "train")] == [c.id for c in mixed["train"]]
    assert [c.id for c in mix_corpora(parts, tmp_path / "mix", seed=0)["train"]] == [c.id for c in mixed["train"]]


def test_fraction_is_nested_and_repeat_keeps_ids_unique(two_corpora, tmp_path):
    a, b = two_corpora
    train = load_cuts(a, "train")
    half, all_ = take_fraction(train, 0.5, 0), take_fraction(train, 1.0, 0)
    quarter = take_fraction(train, 0.25, 0)
    assert len(half) == round(0.5 * len(train)) and len(all_) == len(train)
    assert {c.id for c in quarter} <= {c.id for c in half} <= {c.id for c in all_}
    mixed = mix_corpora([MixPart("real", a, train_fraction=0.5, repeat=2), MixPart("synth", b)], tmp_path, seed=0)
    real = [c for c in mixed["train"] if c.id.startswith("real_")]
    assert len(real) == 2 * len(half) and len({c.id for c in mixed["train"]}) == len(mixed["train"])
    assert len(mixed["dev"]) == 2 * len(load_cuts(a, "dev"))  # dev and test are never cut


def test_mix_refuses_what_it_cannot_keep_apart(two_corpora, tmp_path):
    a, b = two_corpora
    with pytest.raises(DataError, match="more than once"):  # one corpus name for both: ids clash
        mix_corpora([MixPart("x", a), MixPart("x", b)], tmp_path / "clash")
    other = tmp_path / "other"
    shutil.copytree(b, other)
    report = json.loads((other / REPORT_NAME).read_text())
    report["frontend"]["g2p"] = "cmudict"
    (other / REPORT_NAME).write_text(json.dumps(report))
    with pytest.raises(DataError, match="same --g2p"):  # two phoneme vocabularies cannot share one model
        mix_corpora([MixPart("a", a), MixPart("o", other)], tmp_path / "vocab")
    with pytest.raises(DataError, match="no dev cuts"):
        mix_corpora([MixPart("a", a, {"train": "train", "test": "test"})], tmp_path / "nodev")
    with pytest.raises(DataError, match="prepare corpus 'gone' first"):
        mix_corpora([MixPart("gone", tmp_path / "missing")], tmp_path / "gone")
