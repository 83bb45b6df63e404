"""scraps.data: corpus preparation (checks, report, split, idempotence), SpeechDataset and the sampler."""
from __future__ import annotations

import copy
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from lhotse import CutSet
from lhotse.testing.dummies import dummy_cut

from scraps.audio import SAMPLE_RATE, num_frames
from scraps.data import (
    DataError,
    SpeechDataset,
    load_cuts,
    make_dataloader,
    make_sampler,
    prepare_csv,
    prepare_ljspeech,
    speaker_map_from_cuts,
)
from scraps.data.prepare import main as prepare_main
from scraps.text import TextFrontend

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LJSPEECH = SHARED_DATA / "ljspeech_subset"
SR = 16000
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore.",
    "A stitch in time saves nine.",
    "Please call Stella and ask her to bring these things.",
    "It is a truth universally acknowledged.",
    "Two roads diverged in a yellow wood.",
    "All that glitters is not gold.",
    "Better late than never, they said.",
]


@pytest.fixture(scope="module")
def frontend() -> TextFrontend:
    return TextFrontend()


def _tone(path: Path, seconds: float, freq: float = 220.0, subtype: str = "PCM_16") -> None:
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR, subtype=subtype)


def _good_corpus(root: Path, n: int = 8) -> list[str]:
    """n tone clips of different lengths by two speakers; returns the CSV rows ``path|text|speaker``."""
    (root / "wavs").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        _tone(root / "wavs" / f"utt{i:02d}.wav", 0.5 + 0.25 * i, freq=200 + 20 * i)
        rows.append(f"wavs/utt{i:02d}.wav|{TEXTS[i % len(TEXTS)]}|{'spk_b' if i % 2 else 'spk_a'}")
    return rows


def _write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def good(tmp_path_factory, frontend) -> tuple[Path, dict[str, CutSet]]:
    root = tmp_path_factory.mktemp("good")
    csv = _write_csv(root / "metadata.csv", _good_corpus(root))
    return root, prepare_csv(csv, root / "prepared", frontend, num_dev=1, num_test=1)


# ---------------------------------------------------------------------------------------------- preparation


@pytest.fixture(scope="module")
def ljspeech(tmp_path_factory, frontend) -> tuple[Path, dict[str, CutSet]]:
    if not (LJSPEECH / "metadata.csv").is_file():
        pytest.skip(f"real speech not found at {LJSPEECH} (the shared data folder next to the repository)")
    corpus = tmp_path_factory.mktemp("lj")
    lines = (LJSPEECH / "metadata.csv").read_text(encoding="utf-8").splitlines()[:30]
    (corpus / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (corpus / "wavs").symlink_to(LJSPEECH / "wavs")  # the real files, not a copy
    out = corpus / "prepared"
    return out, prepare_ljspeech(corpus, out, frontend, num_dev=3, num_test=3)


def test_ljspeech_subset_prepares_every_row(ljspeech, frontend):
    out, splits = ljspeech
    assert {k: len(v) for k, v in splits.items()} == {"train": 24, "dev": 3, "test": 3}
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["kept"] == 30 and report["skipped"] == 0 and report["splits"]["train"] == 24
    assert report["frontend"] == json.loads(json.dumps(frontend.config()))
    cut = next(c for s in splits.values() for c in s if c.id == "LJ001-0002")
    sup = cut.supervisions[0]
    assert sup.text == "in being comparatively modern." and sup.speaker == "ljspeech"
    tokens = sup.custom["phonemes"].split(" ")
    assert tokens == frontend.phonemize(sup.text) and all(t.strip() == t and t for t in tokens)
    assert sup.custom["normalized"] == frontend.normalize(sup.text)
    info = sf.info(cut.recording.sources[0].source)
    assert Path(cut.recording.sources[0].source).is_absolute()
    assert cut.recording.sampling_rate == info.samplerate == 22050
    assert cut.duration == pytest.approx(info.frames / info.samplerate) and cut.start == 0
    # the written manifests are the returned cut sets
    for name, cuts in splits.items():
        assert [c.id for c in load_cuts(out, name)] == [c.id for c in cuts]


def test_ljspeech_real_batch(ljspeech, frontend):
    _, splits = ljspeech
    cuts = splits["dev"]
    batch = SpeechDataset(frontend.vocab)[cuts]
    assert batch["audio"].shape[0] == 3 and batch["speakers"].tolist() == [0, 0, 0]
    for i, cut in enumerate(cuts):
        assert abs(int(batch["audio_lens"][i]) - cut.duration * SAMPLE_RATE) <= 1


def test_demo_corpus_prepares_from_the_command_line(tmp_path, frontend, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--out-dir", str(out), "--num-speakers", "2", "--utts-per-speaker", "4", "--num-dev", "1",
            "--num-test", "1"]
    assert prepare_main(args) == 0
    assert capsys.readouterr().out.strip().endswith(f"prepared 8 utterances (skipped 0) -> {out}")
    cuts = [c for split in ("train", "dev", "test") for c in load_cuts(out, split)]
    assert len(cuts) == 8 and len({c.id for c in cuts}) == 8
    assert len({c.supervisions[0].speaker for c in cuts}) == 2
    for cut in cuts:  # the stored phonemes are what synthesis would produce from the raw text
        sup = cut.supervisions[0]
        assert sup.custom["phonemes"].split(" ") == frontend.phonemize(sup.text)
    assert prepare_main(args) == 0 and "already prepared" in capsys.readouterr().out


def test_bad_rows_are_counted_and_the_rest_kept(tmp_path, frontend, capsys):
    rows = _good_corpus(tmp_path, n=4)
    w = tmp_path / "wavs"
    (w / "empty.wav").write_bytes(b"")
    _tone(w / "full.wav", 1.0)
    (w / "header_cut.wav").write_bytes((w / "full.wav").read_bytes()[:30])
    (w / "data_cut.wav").write_bytes((w / "full.wav").read_bytes()[: 44 + SR])  # half of the samples
    sf.write(w / "nan.wav", np.full(SR, np.nan, dtype=np.float32), SR, subtype="FLOAT")
    _tone(w / "short.wav", 0.1)
    _tone(w / "long.wav", 3.0)
    _tone(w / "text_a.wav", 1.0)
    _tone(w / "text_b.wav", 1.0)
    rows += [
        "wavs/missing.wav|Where did it go?|spk_a",
        "wavs/empty.wav|Nothing in here.|spk_a",
        "wavs/header_cut.wav|Cut in its header.|spk_a",
        "wavs/data_cut.wav|Cut in its samples.|spk_a",
        "wavs/nan.wav|Not a number.|spk_b",
        "wavs/short.wav|Too short.|spk_b",
        "wavs/long.wav|Too long for the limit.|spk_b",
        "wavs/text_a.wav|   |spk_b",
        "wavs/text_b.wav|\U0001F600\U0001F389|spk_b",
        "wavs/utt00.wav|listed twice|spk_a",
        "only one field",
        "http://example.com/x.wav|Remote file.|spk_a",
        "wavs|A folder, not a file.|spk_a",
    ]
    csv = _write_csv(tmp_path / "metadata.csv", rows)
    splits = prepare_csv(csv, tmp_path / "out", frontend, num_dev=1, num_test=1, max_duration=2.5)
    report = json.loads((tmp_path / "out" / "prepare_report.json").read_text())
    expected = {
        "missing_audio": 1, "empty_audio": 1, "unreadable_audio": 1, "truncated_audio": 1, "non_finite_audio": 1,
        "too_short": 1, "too_long": 1, "empty_text": 1, "nothing_to_pronounce": 1, "duplicate": 1,
        "malformed_row": 1, "unsafe_path": 2,
    }
    assert report["skipped_by_reason"] == expected
    assert report["kept"] == 4 and report["skipped"] == sum(expected.values())
    assert sorted(c.id for s in splits.values() for c in s) == ["utt00", "utt01", "utt02", "utt03"]
    assert any("missing.wav" in e for e in report["skipped_examples"]["missing_audio"])
    assert report["parameters"]["max_duration"] == 2.5
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("prepared 4 utterances (skipped 13: duplicate=1, empty_audio=1")
    assert line.endswith(str(tmp_path / "out"))


def test_split_is_deterministic_and_row_order_free(tmp_path, frontend):
    rows = _good_corpus(tmp_path, n=8)

    def split_ids(name: str, order: list[str], seed: int) -> dict[str, list[str]]:
        csv = _write_csv(tmp_path / f"{name}.csv", order)
        splits = prepare_csv(csv, tmp_path / name, frontend, num_dev=2, num_test=2, seed=seed)
        return {k: [c.id for c in v] for k, v in splits.items()}

    forward = split_ids("fwd", rows, seed=0)
    assert split_ids("rev", rows[::-1], seed=0) == forward
    assert sorted(sum(forward.values(), [])) == [f"utt{i:02d}" for i in range(8)]
    assert any(split_ids(f"seed{s}", rows, seed=s) != forward for s in (1, 2))


def test_preparation_is_idempotent(good, frontend, capsys):
    root, first = good
    out = root / "prepared"
    stamp = (out / "cuts_train.jsonl.gz").stat().st_mtime_ns
    again = prepare_csv(root / "metadata.csv", out, frontend, num_dev=1, num_test=1)
    assert "already prepared" in capsys.readouterr().out
    assert (out / "cuts_train.jsonl.gz").stat().st_mtime_ns == stamp
    assert {k: [c.id for c in v] for k, v in again.items()} == {k: [c.id for c in v] for k, v in first.items()}
    # other parameters, or force, redo the work
    other = root / "other"
    shutil.copytree(out, other)
    prepare_csv(root / "metadata.csv", other, frontend, num_dev=2, num_test=1)
    assert json.loads((other / "prepare_report.json").read_text())["splits"]["dev"] == 2
    prepare_csv(root / "metadata.csv", out, frontend, num_dev=1, num_test=1, force=True)
    assert (out / "cuts_train.jsonl.gz").stat().st_mtime_ns != stamp


def test_an_evaluation_only_set_puts_every_utterance_in_test(tmp_path, good, frontend, capsys):
    root, _ = good
    out = tmp_path / "eval_only"
    args = ["csv", "--csv", str(root / "metadata.csv"), "--out-dir", str(out), "--num-dev", "0", "--num-test", "8",
            "--g2p", frontend.config()["g2p"]]
    assert prepare_main(args) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line == f"prepared 8 utterances (skipped 0; train and dev left empty: an evaluation-only set) -> {out}"
    assert [len(load_cuts(out, split)) for split in ("train", "dev", "test")] == [0, 0, 8]
    assert json.loads((out / "prepare_report.json").read_text())["splits"] == {"train": 0, "dev": 0, "test": 8}
    assert prepare_main(args) == 0 and "already prepared" in capsys.readouterr().out
    # a dev set still needs training data, and the test set cannot be larger than the corpus
    with pytest.raises(DataError, match=r"--num-dev 0 --num-test N\)$"):
        prepare_csv(root / "metadata.csv", tmp_path / "few", frontend, num_dev=1, num_test=7)
    with pytest.raises(DataError, match="need more than num_dev \\+ num_test = 9"):
        prepare_csv(root / "metadata.csv", tmp_path / "few", frontend, num_dev=0, num_test=9)
    prepare_csv(root / "metadata.csv", tmp_path / "no_dev", frontend, num_dev=0, num_test=3)
    assert capsys.readouterr().out.strip().endswith(f"(skipped 0; dev left empty) -> {tmp_path / 'no_dev'}")

    from scraps.training.config import load_config
    from scraps.training.loop import load_recipe_cuts
    from scraps.task import ScrapsRecipeConfig

    cfg = load_config(ScrapsRecipeConfig, None, [f"data.dir={out}"])
    with pytest.raises(ValueError, match="holds no utterances"):  # a recipe says why it cannot train on it
        load_recipe_cuts(cfg, cfg.data.train_cuts)


def test_user_errors_are_one_line(tmp_path, good, frontend, capsys):
    with pytest.raises(DataError, match="keithito.com/LJ-Speech-Dataset"):
        prepare_ljspeech(tmp_path / "nowhere", tmp_path / "out", frontend)
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(DataError, match="no metadata.csv"):
        prepare_ljspeech(tmp_path / "empty_dir", tmp_path / "out", frontend)
    root, _ = good
    with pytest.raises(DataError, match="lower --num-dev/--num-test"):
        prepare_csv(root / "metadata.csv", tmp_path / "few", frontend, num_dev=4, num_test=4)
    assert (tmp_path / "few" / "prepare_report.json").is_file()  # the report says why, nothing else written
    assert not (tmp_path / "few" / "cuts_train.jsonl.gz").exists()
    capsys.readouterr()
    assert prepare_main(["csv", "--csv", str(tmp_path / "none.csv"), "--out-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none.csv" in err


# ---------------------------------------------------------------------------------------------- dataset


def test_dataset_batch_shapes_and_padding(good, frontend):
    _, splits = good
    cuts = CutSet.from_cuts(sorted((c for s in splits.values() for c in s), key=lambda c: c.id)[:4])
    smap = speaker_map_from_cuts(cuts)
    assert smap == {"spk_a": 0, "spk_b": 1}
    batch = SpeechDataset(frontend.vocab, smap)[cuts]
    assert batch["ids"] == ["utt00", "utt01", "utt02", "utt03"]
    assert batch["speakers"].tolist() == [0, 1, 0, 1]
    assert batch["audio"].dtype == torch.float32 and batch["phonemes"].dtype == torch.long
    expected_lens = [round((0.5 + 0.25 * i) * SAMPLE_RATE) for i in range(4)]
    assert batch["audio_lens"].tolist() == expected_lens
    assert batch["audio"].shape == (4, max(expected_lens))
    for i, cut in enumerate(cuts):
        n = expected_lens[i]
        assert batch["audio"][i, :n].abs().max() > 0.1 and batch["audio"][i, n:].abs().sum() == 0
        ids = frontend.vocab.encode(cut.supervisions[0].custom["phonemes"].split(" "), add_bos_eos=True)
        assert batch["phoneme_lens"][i] == len(ids)
        assert batch["phonemes"][i, : len(ids)].tolist() == ids
        assert (batch["phonemes"][i, len(ids) :] == frontend.vocab.pad_id).all()
    assert batch["phonemes"].shape == (4, int(batch["phoneme_lens"].max()))
    assert batch["texts"][0] == TEXTS[0]
    assert batch["phoneme_strings"][0] == cuts[0].supervisions[0].custom["phonemes"]


def test_dataset_drops_unreadable_audio_and_rejects_unknown_speakers(good, frontend, tmp_path):
    _, splits = good
    cuts = sorted((c for s in splits.values() for c in s), key=lambda c: c.id)[:3]
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wav file")
    cuts[1] = copy.deepcopy(cuts[1])
    cuts[1].recording.sources[0].source = str(broken)
    dataset = SpeechDataset(frontend.vocab, {"spk_a": 0, "spk_b": 1})
    with pytest.warns(UserWarning, match="utt01"):
        batch = dataset[CutSet.from_cuts(cuts)]
    assert batch["ids"] == ["utt00", "utt02"] and batch["audio"].shape[0] == 2 and dataset.num_failed == 1
    with pytest.warns(UserWarning, match="2 skipped so far"):
        empty = dataset[CutSet.from_cuts(cuts[1:2])]
    assert empty["ids"] == [] and empty["audio"].shape == (0, 0) and empty["phonemes"].shape == (0, 0)
    with pytest.raises(DataError, match="unknown speaker 'spk_b'"):
        SpeechDataset(frontend.vocab, {"spk_a": 0})[CutSet.from_cuts(cuts[:2])]
    bare = copy.deepcopy(cuts[0])
    bare.supervisions[0].custom = None
    with pytest.raises(DataError, match="no phonemes"):
        dataset[CutSet.from_cuts([bare])]


def test_dataloader_yields_every_cut_once(good, frontend):
    _, splits = good
    cuts = CutSet.from_cuts(c for s in splits.values() for c in s)
    loader = make_dataloader(SpeechDataset(frontend.vocab), make_sampler(cuts, batch_size=3, seed=1))
    seen = []
    for batch in loader:
        assert batch["audio"].shape[0] == len(batch["ids"]) <= 3
        assert int(num_frames(batch["audio_lens"]).max()) == num_frames(batch["audio"].shape[1])
        seen += batch["ids"]
    assert sorted(seen) == sorted(c.id for c in cuts)


# ---------------------------------------------------------------------------------------------- sampler


def _dummy_cuts(n: int = 101, seed: int = 0) -> CutSet:
    rng = random.Random(seed)
    return CutSet.from_cuts(dummy_cut(i, duration=round(rng.uniform(0.5, 10.0), 2)) for i in range(n))


def test_sampler_respects_limits_and_fills_batches_with_max_cuts_only():
    cuts = _dummy_cuts()
    batches = list(make_sampler(cuts, batch_size=16, seed=0))
    sizes = [len(b) for b in batches]
    assert sum(sizes) == len(cuts) and max(sizes) == 16
    assert sum(s == 16 for s in sizes) >= 5  # lhotse's own bins leave nearly every bucket short of a batch
    for b in make_sampler(cuts, max_duration=40.0, seed=0):
        assert len(b) * max(c.duration for c in b) <= 40.0
    for b in make_sampler(cuts, batch_size=4, max_duration=30.0):
        assert len(b) <= 4 and len(b) * max(c.duration for c in b) <= 30.0
    # tiny sets and a single bucket work (lhotse's estimator needs more cuts than buckets)
    assert [len(b) for b in make_sampler(_dummy_cuts(3), batch_size=8)] == [3]
    assert sum(len(b) for b in make_sampler(cuts, max_duration=60.0, num_buckets=1, shuffle=False)) == len(cuts)
    with pytest.raises(DataError, match="batch_size or max_duration"):
        make_sampler(cuts)


def test_sampler_bucketing_reduces_padding():
    cuts = _dummy_cuts(400)
    batches = list(make_sampler(cuts, batch_size=16, seed=0))
    real = sum(c.duration for b in batches for c in b)
    padded = sum(len(b) * max(c.duration for c in b) for b in batches)
    assert real / padded > 0.85


def test_sampler_ranks_are_disjoint_and_cover_the_data():
    cuts = _dummy_cuts()
    per_rank = [
        [b for b in make_sampler(cuts, batch_size=8, seed=3, world_size=2, rank=r)] for r in range(2)
    ]
    assert len(per_rank[0]) == len(per_rank[1])  # equal steps: no rank waits forever in DDP
    ids = [[c.id for b in batches for c in b if "_dup" not in c.id] for batches in per_rank]
    assert not set(ids[0]) & set(ids[1])
    assert sorted(ids[0] + ids[1]) == sorted(c.id for c in cuts)


def test_sampler_resumes_mid_epoch():
    cuts = _dummy_cuts()
    sampler = make_sampler(cuts, batch_size=8, seed=5)
    sampler.set_epoch(2)
    it = iter(sampler)
    for _ in range(4):
        next(it)
    state = copy.deepcopy(sampler.state_dict())
    remaining = [[c.id for c in b] for b in _drain(sampler)]
    assert remaining
    fresh = make_sampler(cuts, batch_size=8, seed=5)
    fresh.load_state_dict(state)
    assert [[c.id for c in b] for b in fresh] == remaining


def _drain(sampler) -> list[CutSet]:
    """The rest of the current epoch (``for b in sampler`` would restart it)."""
    out = []
    while True:
        try:
            out.append(next(sampler))
        except StopIteration:
            return out
