"""Audio files as users have them: 8-bit, 24-bit, float, 96 kHz, many channels, truncated, empty, NaN/inf.

``load_audio`` either returns the right samples (mono, 24 kHz) or refuses with a one-line ``AudioError`` that says
why; corpus preparation keeps exactly the files ``load_audio`` reads and counts the others by reason.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from scraps.audio import SAMPLE_RATE, AudioError, load_audio

T = 0.5  # seconds of audio per test file (above prepare's default min_duration of 0.3 s)


def _sine(sr: int, freq: float = 440.0, amp: float = 0.5, seconds: float = T) -> np.ndarray:
    t = np.arange(round(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _channels(sr: int, n: int) -> np.ndarray:
    """``n`` channels, channel i = (i + 1) / 10 * sine: their mean is (n + 1) / 20 * sine."""
    base = _sine(sr, amp=1.0)
    return np.stack([(i + 1) / 10 * base for i in range(n)], axis=1)


def _truncated(path: Path, keep: float) -> bytes:
    data = path.read_bytes()
    return data[: int(len(data) * keep)]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Every kind of file, by name; good ones first."""
    d = tmp_path_factory.mktemp("audio_formats")
    out: dict[str, Path] = {}

    def write(name: str, data: np.ndarray, sr: int, subtype: str) -> None:
        out[name] = d / name
        sf.write(out[name], data, sr, subtype=subtype)

    write("pcm16.wav", _sine(SAMPLE_RATE), SAMPLE_RATE, "PCM_16")
    write("u8.wav", _sine(SAMPLE_RATE), SAMPLE_RATE, "PCM_U8")
    write("s8.flac", _sine(SAMPLE_RATE), SAMPLE_RATE, "PCM_S8")
    write("pcm24.flac", _sine(SAMPLE_RATE), SAMPLE_RATE, "PCM_24")
    write("float.wav", _sine(SAMPLE_RATE), SAMPLE_RATE, "FLOAT")
    write("96k.wav", _sine(96000), 96000, "PCM_16")
    write("96k_24bit.flac", _sine(96000), 96000, "PCM_24")
    write("22k.wav", _sine(22050), 22050, "PCM_16")
    write("stereo.flac", _channels(SAMPLE_RATE, 2), SAMPLE_RATE, "PCM_16")
    write("6ch.wav", _channels(SAMPLE_RATE, 6), SAMPLE_RATE, "PCM_16")
    write("6ch_48k.flac", _channels(48000, 6), 48000, "PCM_16")
    # bad ones
    full_wav, full_flac = out["pcm16.wav"], out["pcm24.flac"]
    for name, data in {
        "truncated.wav": _truncated(full_wav, 0.5),
        "truncated_header.wav": _truncated(full_wav, 0.002),
        "truncated_flac.flac": _truncated(full_flac, 0.5),
        "zero_length.wav": b"",
        "zero_length_flac.flac": b"",
        "garbage.wav": os.urandom(4000),
    }.items():
        out[name] = d / name
        out[name].write_bytes(data)
    write("header_only.wav", np.zeros(0, np.float32), SAMPLE_RATE, "PCM_16")
    nan, inf = _sine(SAMPLE_RATE), _sine(SAMPLE_RATE)
    nan[100] = np.nan
    inf[-1] = -np.inf
    write("nan.wav", nan, SAMPLE_RATE, "FLOAT")
    write("inf.wav", inf, SAMPLE_RATE, "DOUBLE")
    out["directory.wav"] = d / "directory.wav"
    out["directory.wav"].mkdir()
    out["fifo.wav"] = d / "fifo.wav"
    os.mkfifo(out["fifo.wav"])  # opening it for reading would block forever
    return out


GOOD = ["pcm16.wav", "u8.wav", "s8.flac", "pcm24.flac", "float.wav", "96k.wav", "96k_24bit.flac", "22k.wav",
        "stereo.flac", "6ch.wav", "6ch_48k.flac"]
BAD = {  # file -> (AudioError message part, prepare's skip reason)
    "truncated.wav": ("is truncated", "truncated_audio"),
    "truncated_header.wav": ("is truncated", "truncated_audio"),
    "truncated_flac.flac": ("cannot read audio", "unreadable_audio"),
    "zero_length.wav": ("cannot read audio", "empty_audio"),
    "zero_length_flac.flac": ("cannot read audio", "empty_audio"),
    "garbage.wav": ("cannot read audio", "unreadable_audio"),
    "header_only.wav": ("is empty (0 samples)", "empty_audio"),
    "nan.wav": ("NaN or infinite", "non_finite_audio"),
    "inf.wav": ("NaN or infinite", "non_finite_audio"),
    "directory.wav": ("not a regular file", "unsafe_path"),
    "fifo.wav": ("not a regular file", "unsafe_path"),
}


def _reference() -> torch.Tensor:
    """The 0.5-amplitude 440 Hz sine at 24 kHz."""
    return torch.from_numpy(_sine(SAMPLE_RATE))


@pytest.mark.parametrize("name, atol", [("pcm16.wav", 1e-4), ("u8.wav", 1 / 128), ("s8.flac", 1 / 128),
                                        ("pcm24.flac", 1e-6), ("float.wav", 0.0)])
def test_bit_depths_load_to_the_same_samples(files, name, atol):
    wav = load_audio(files[name])
    assert wav.dtype == torch.float32 and wav.shape == (round(SAMPLE_RATE * T),)
    torch.testing.assert_close(wav, _reference(), atol=atol + 1e-7, rtol=0)


@pytest.mark.parametrize("name", ["96k.wav", "96k_24bit.flac", "22k.wav"])
def test_other_sample_rates_are_resampled_to_24k(files, name):
    wav = load_audio(files[name])
    assert wav.shape == (round(SAMPLE_RATE * T),)
    # away from the edges (the resampling filter sees zeros beyond them) it is the 24 kHz sine
    inner = slice(200, -200)
    torch.testing.assert_close(wav[inner], _reference()[inner], atol=5e-3, rtol=0)


@pytest.mark.parametrize("name, n", [("stereo.flac", 2), ("6ch.wav", 6), ("6ch_48k.flac", 6)])
def test_channels_are_averaged_to_mono(files, name, n):
    wav = load_audio(files[name])
    assert wav.ndim == 1 and wav.shape == (round(SAMPLE_RATE * T),)
    expected = (n + 1) / 20 * torch.from_numpy(_sine(SAMPLE_RATE, amp=1.0))
    inner = slice(200, -200) if "48k" in name else slice(None)
    torch.testing.assert_close(wav[inner], expected[inner], atol=5e-3 if "48k" in name else 2e-4, rtol=0)


@pytest.mark.parametrize("name", list(BAD))
def test_unusable_files_are_refused_with_the_reason_in_one_line(files, name):
    with pytest.raises(AudioError) as err:
        load_audio(files[name])  # returns, even for the FIFO: it is never opened
    message = str(err.value)
    assert BAD[name][0] in message and str(files[name]) in message and "\n" not in message, message


def test_preparation_keeps_what_load_audio_reads_and_counts_the_rest(files, tmp_path):
    from scraps.data.prepare import prepare_csv
    from scraps.data import SpeechDataset
    from scraps.text import TextFrontend
    from lhotse import CutSet

    rows = [f"{files[n]}|Sound number {i}.|spk{i % 2}" for i, n in enumerate([*GOOD, *BAD])]
    csv = tmp_path / "list.csv"
    csv.write_text("\n".join(rows) + "\n")
    frontend = TextFrontend(normalize=False)
    splits = prepare_csv(csv, tmp_path / "out", frontend, num_dev=1, num_test=1)
    report = json.loads((tmp_path / "out" / "prepare_report.json").read_text())
    expected: dict[str, int] = {}
    for _, reason in BAD.values():
        expected[reason] = expected.get(reason, 0) + 1
    assert report["skipped_by_reason"] == expected
    assert report["kept"] == len(GOOD)
    cuts = CutSet.from_cuts(c for s in splits.values() for c in s)
    assert sorted(Path(c.recording.sources[0].source).name for c in cuts) == sorted(GOOD)
    for cut in cuts:
        assert cut.duration == pytest.approx(T, abs=1e-3)
    # every kept cut loads through the training dataset as 24 kHz mono of the cut's duration
    batch = SpeechDataset(frontend.vocab)[cuts]
    assert len(batch["ids"]) == len(GOOD)
    assert batch["audio_lens"].tolist() == [round(SAMPLE_RATE * T)] * len(GOOD)
