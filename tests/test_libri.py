"""LibriSpeech / LibriTTS recipes: tiny fake corpora in each layout, prepared end to end through lhotse's recipes."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from scraps.data import SpeechDataset
from scraps.data.libri import main
from scraps.data.prepare import REPORT_NAME, DataError, frontend_for_data, load_cuts, prepare_lhotse
from scraps.text import TextFrontend

SENTENCES = ["he hoped there would be stew for dinner", "the birds sang in the tall trees",
             "a cold wind blew across the hill", "she opened the old wooden door"]  # fmt: skip
# part -> speakers; each speaker reads one chapter of two utterances
PARTS = {"train-clean-100": ["19", "26"], "dev-clean": ["84"], "test-clean": ["121"]}


def tone(seconds: float, seed: int, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * math.pi * (120 + 15 * seed) * t) * np.sin(math.pi * t / seconds)).astype(np.float32)


def write_librispeech(root: Path) -> Path:
    """LibriSpeech/<part>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac (16 kHz) + <speaker>-<chapter>.trans.txt
    with upper-case lines '<id> <TEXT>'."""
    corpus = root / "LibriSpeech"
    k = 0
    for part, speakers in PARTS.items():
        for speaker in speakers:
            chapter = corpus / part / speaker / "1000"
            chapter.mkdir(parents=True)
            lines = []
            for u in range(2):
                utt = f"{speaker}-1000-{u:04d}"
                sf.write(chapter / f"{utt}.flac", tone(0.5 + 0.1 * u, k, 16000), 16000, format="FLAC")
                lines.append(f"{utt} {SENTENCES[k % len(SENTENCES)].upper()}")
                k += 1
            (chapter / f"{speaker}-1000.trans.txt").write_text("\n".join(lines) + "\n")
    return corpus


def write_libritts(root: Path) -> Path:
    """LibriTTS/<part>/<speaker>/<chapter>/<speaker>_<chapter>_<para>_<sent>.wav (24 kHz), with .original.txt and
    .normalized.txt beside each clip, <speaker>_<chapter>.trans.tsv (id, original, normalized) and .book.tsv (id,
    original, normalized, aligned, start, end, SNR), and SPEAKERS.txt at the top."""
    corpus = root / "LibriTTS"
    corpus.mkdir(parents=True)
    speakers_txt = [";ID  |SEX| SUBSET           |MINUTES| NAME"]
    k = 0
    for part, speakers in PARTS.items():
        for speaker in speakers:
            speakers_txt.append(f"{speaker:<4}| F | {part:<16} | 25.0 | Reader {speaker}")
            chapter = corpus / part / speaker / "1000"
            chapter.mkdir(parents=True)
            trans, book = [], []
            for u in range(2):
                utt = f"{speaker}_1000_{u:06d}_000000"
                text = SENTENCES[k % len(SENTENCES)].capitalize() + "."
                sf.write(chapter / f"{utt}.wav", tone(0.5 + 0.1 * u, k, 24000), 24000, subtype="PCM_16")
                (chapter / f"{utt}.original.txt").write_text(text)
                (chapter / f"{utt}.normalized.txt").write_text(text)
                trans.append(f"{utt}\t{text}\t{text}")
                book.append(f"{utt}\t{text}\t{text}\ttrue\t{u:.2f}\t{u + 0.6:.2f}\t{30.0 + k:.6f}")
                k += 1
            (chapter / f"{speaker}_1000.trans.tsv").write_text("\n".join(trans) + "\n")
            (chapter / f"{speaker}_1000.book.tsv").write_text("\n".join(book) + "\n")
    (corpus / "SPEAKERS.txt").write_text("\n".join(speakers_txt) + "\n")
    return corpus


@pytest.mark.parametrize("corpus, write", [("librispeech", write_librispeech), ("libritts", write_libritts)])
def test_fake_corpus_prepares_end_to_end(corpus, write, tmp_path, capsys):
    corpus_dir = write(tmp_path / "download")
    out = tmp_path / "manifests"
    argv = [corpus, "--corpus-dir", str(corpus_dir), "--out-dir", str(out), "--train-parts", "train-clean-100",
            "--dev-parts", "dev-clean", "--test-parts", "test-clean"]
    assert main(argv + ["--g2p", "espeak"]) == 0
    train, dev, test = (load_cuts(out, s) for s in ("train", "dev", "test"))
    assert (len(train), len(dev), len(test)) == (4, 2, 2)
    assert {s.speaker for c in train for s in c.supervisions} == {f"{corpus}_19", f"{corpus}_26"}
    expected = ["121-1000-0000", "121-1000-0001"] if corpus == "librispeech" else \
        ["121_1000_000000_000000", "121_1000_000001_000000"]
    assert sorted(c.id for c in test) == [f"{corpus}_{i}" for i in expected]  # the test part, and only it
    for cut in [*train, *dev, *test]:
        sup = cut.supervisions[0]
        assert cut.id.startswith(f"{corpus}_") and sup.speaker.startswith(f"{corpus}_")
        assert sup.text == sup.text.lower() or corpus == "libritts"  # LibriSpeech's upper case is lowered by lhotse
        assert sup.custom["phonemes"] and sup.custom["normalized"]
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["splits"] == {"train": 4, "dev": 2, "test": 2}
    frontend = frontend_for_data(out)  # what training reads: one frontend for all parts
    batch = SpeechDataset(frontend.vocab)[train]
    assert batch["phonemes"].shape[0] == 4 and batch["audio"].shape[0] == 4
    capsys.readouterr()
    assert main(argv) == 0 and "already mixed" in capsys.readouterr().out  # a rerun redoes nothing


def test_missing_part_is_one_clear_line(tmp_path, capsys):
    corpus_dir = write_librispeech(tmp_path)
    code = main(["librispeech", "--corpus-dir", str(corpus_dir), "--out-dir", str(tmp_path / "m"),
                 "--train-parts", "train-clean-360"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "train-clean-360" in err[0] and "download" in err[0]


def test_bad_clips_in_a_lhotse_listing_are_counted_and_skipped(tmp_path):
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

    short = tmp_path / "short.wav"
    recordings, supervisions = [], []
    for i in range(4):
        path = tmp_path / f"u{i}.wav"
        sf.write(path, tone(0.6, i, 16000), 16000)
        recordings.append(Recording.from_file(path, recording_id=f"u{i}"))
        supervisions.append(SupervisionSegment(f"u{i}", f"u{i}", 0.0, recordings[-1].duration, text=SENTENCES[i],
                                               speaker="s1"))
    sf.write(short, tone(0.1, 9, 16000), 16000)
    recordings.append(Recording.from_file(short, recording_id="short"))
    supervisions += [
        SupervisionSegment("short", "short", 0.0, 0.1, text="too short", speaker="s1"),
        SupervisionSegment("orphan", "nowhere", 0.0, 1.0, text="no recording", speaker="s1"),
        SupervisionSegment("part", "u0", 0.2, 0.2, text="a piece of a file", speaker="s1"),
        SupervisionSegment("silent", "u1", 0.0, recordings[1].duration, text="...", speaker="s1"),
    ]
    (tmp_path / "u3.wav").write_bytes(b"RIFF....WAVEfmt broken")
    RecordingSet.from_recordings(recordings).to_file(tmp_path / "rec.jsonl.gz")
    SupervisionSet.from_segments(supervisions).to_file(tmp_path / "sup.jsonl.gz")
    cuts = prepare_lhotse(tmp_path / "rec.jsonl.gz", tmp_path / "sup.jsonl.gz", tmp_path / "out",
                          TextFrontend(normalize=False), num_dev=0, num_test=0)
    assert sorted(c.id for c in cuts["train"]) == ["u0", "u1", "u2"]
    report = json.loads((tmp_path / "out" / REPORT_NAME).read_text())
    assert report["skipped_by_reason"] == {"missing_recording": 1, "partial_recording": 1, "too_short": 1,
                                           "unreadable_audio": 1, "duplicate": 1}
    with pytest.raises(DataError, match="lhotse manifest not found"):
        prepare_lhotse(tmp_path / "nope.jsonl.gz", tmp_path / "sup.jsonl.gz", tmp_path / "out2")
