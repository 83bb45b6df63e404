"""The `scraps` command: score (one pair, a list), evaluate, and one-line errors with exit code 2."""
from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

from scraps.audio import SAMPLE_RATE
from scraps.cli import main
from scraps.evaluation import score_ids_audios
from scraps.model import ScrapsConfig, ScrapsModel
from scraps.nn import EncoderConfig
from scraps.text import PhonemeVocab, TextFrontend

TEXTS = ["the cat sat on the mat.", "a big red boat", "she sells sea shells", "go home now, please!"]


def waveform(seconds: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wav = sum(torch.sin(2 * math.pi * k * (110 + 20 * seed) * t) / k for k in range(1, 5))
    return (0.3 * wav * torch.sin(math.pi * t / seconds) + 0.01 * torch.randn(t.shape, generator=g)).float()


def write_wav(path: Path, seconds: float, seed: int) -> Path:
    sf.write(path, waveform(seconds, seed).numpy(), SAMPLE_RATE)
    return path


@pytest.fixture(scope="module")
def frontend() -> TextFrontend:
    return TextFrontend(normalize=False)


@pytest.fixture(scope="module")
def export(tmp_path_factory, frontend) -> Path:
    """A tiny random SCRAPS export whose text frontend skips the NeMo normaliser."""
    torch.manual_seed(0)
    enc = EncoderConfig(dim=32, layers=1, heads=2, ff_mult=2, dropout=0.0, max_len=512)
    vocab = PhonemeVocab.default("espeak")
    model = ScrapsModel(ScrapsConfig(vocab_size=len(vocab), phonetic=enc, acoustic=enc, integrator_dim=24,
                                     embed_dim=16))  # fmt: skip
    return model.save_pretrained(tmp_path_factory.mktemp("export") / "scraps", vocab, frontend.config())


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("audio")
    for i in range(len(TEXTS)):
        write_wav(folder / f"utt{i}.wav", 0.4 + 0.15 * i, i)
    write_wav(folder / "short.wav", 0.02, 9)
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEfmt this is not audio")
    return folder


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    """stderr of a failed command: exactly one line, 'scraps <command>: error: ...'."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("scraps") and "error:" in lines[0]
    return lines[0]


# ----------------------------------------------------------------------------------------------------- score
def test_score_one_pair_text_and_phonemes(export, audio_dir, frontend, capsys):
    wav = audio_dir / "utt1.wav"
    code, out, err = run(["score", "--model", export, "--audio", wav, "--text", TEXTS[1]], capsys)
    assert code == 0, err
    score = float(out.strip())
    model = ScrapsModel.from_pretrained(export)
    ids = model.encode_text(TEXTS[1], frontend)
    with torch.no_grad():
        w = waveform(0.55, 1)
        expected = model.score(torch.tensor([ids]), torch.tensor([len(ids)]), w[None], torch.tensor([len(w)]))
    assert score == pytest.approx(float(expected), abs=1e-4)  # the wav file is 16-bit: tiny rounding
    phonemes = " ".join(frontend.phonemize(TEXTS[1]))
    code, out, _ = run(["score", "--model", export, "--audio", wav, "--phonemes", phonemes], capsys)
    assert code == 0 and float(out.strip()) == score


def test_score_list_scores_good_rows_and_reports_bad_ones(export, audio_dir, tmp_path, capsys):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        f"{audio_dir}/utt0.wav|{TEXTS[0]}\n"
        f"{audio_dir}/missing.wav|{TEXTS[1]}\n"
        "\n"
        f"{audio_dir}/utt2.wav|   \n"
        f"{audio_dir}/short.wav|{TEXTS[3]}\n"
        f"{audio_dir}/broken.wav|{TEXTS[3]}\n"
        f"{audio_dir}/utt3.wav|{TEXTS[3]}\n"
        f"{audio_dir}/utt1.wav|?!\n"
        f"{audio_dir}/utt1.wav|{TEXTS[1]} | and more\n"  # the text is everything after the first '|'
    )
    out_csv = tmp_path / "out" / "scores.csv"
    code, out, err = run(["score", "--model", export, "--list", pairs, "--out", out_csv, "--batch-size", "2"], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["line"] for r in rows] == ["1", "2", "4", "5", "6", "7", "8", "9"]
    scored = {r["line"]: r for r in rows if r["score"]}
    assert set(scored) == {"1", "7", "9"} and not any(r["error"] for r in scored.values())
    errors = {r["line"]: r["error"] for r in rows if not r["score"]}
    assert "not found" in errors["2"]
    assert "nothing to pronounce" in errors["4"] and "nothing to pronounce" in errors["8"]
    assert "too short" in errors["5"]
    assert "cannot read audio" in errors["6"]
    assert rows[-1]["text"] == f"{TEXTS[1]} | and more"
    assert "scored 3 of 8 rows" in err and "5 skipped" in err
    assert f"{pairs}:2: skipped:" in err
    # list scores are the single-pair scores (batching and padding change nothing)
    for line, (wav, text) in {"1": ("utt0.wav", TEXTS[0]), "7": ("utt3.wav", TEXTS[3])}.items():
        _, single, _ = run(["score", "--model", export, "--audio", audio_dir / wav, "--text", text], capsys)
        assert float(scored[line]["score"]) == pytest.approx(float(single), abs=1e-5)


def test_score_list_relative_paths_and_all_bad(export, audio_dir, tmp_path, capsys):
    (tmp_path / "a.wav").write_bytes((audio_dir / "utt0.wav").read_bytes())
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"a.wav|{TEXTS[0]}\n")
    code, _, err = run(["score", "--model", export, "--list", pairs, "--out", tmp_path / "s.csv"], capsys)
    assert code == 0, err
    pairs.write_text("nothing here\n|some text\n")
    code, _, err = run(["score", "--model", export, "--list", pairs, "--out", tmp_path / "s.csv"], capsys)
    assert code == 2
    assert "no row of" in err.strip().splitlines()[-1]
    errors = [r["error"] for r in csv.DictReader((tmp_path / "s.csv").open())]
    assert errors == ["expected a row 'audio|text'"] * 2


def test_python_api_matches_cli(export, audio_dir, frontend, capsys):
    model = ScrapsModel.from_pretrained(export)
    ids = [model.encode_text(t, frontend) for t in TEXTS[:2]]
    waves = [waveform(0.4, 0), waveform(0.55, 1)]
    api = score_ids_audios(model, ids, waves)
    _, out, _ = run(["score", "--model", export, "--audio", audio_dir / "utt0.wav", "--text", TEXTS[0]], capsys)
    assert api[0] == pytest.approx(float(out), abs=1e-4)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--audio", "{audio}/broken.wav", "--text", "hello"], "cannot read audio"),
        (["--audio", "{audio}/nope.wav", "--text", "hello"], "audio file not found"),
        (["--audio", "{audio}/utt0.wav", "--text", ""], "nothing to pronounce: '' (empty)"),
        (["--audio", "{audio}/utt0.wav", "--text", "?! ..."], "nothing to pronounce"),
        (["--audio", "{audio}/short.wav", "--text", "hello"], "audio too short"),
        (["--audio", "{audio}/utt0.wav", "--phonemes", "h Q"], "['Q'] are not in the model's vocabulary"),
        (["--audio", "{audio}/utt0.wav", "--phonemes", "| ."], "hold no phone"),
        (["--audio", "{audio}/utt0.wav"], "give --audio FILE with --text"),
        (["--list", "{audio}/x.csv", "--audio", "{audio}/utt0.wav"], "--list takes --out"),
        (["--list", "{audio}/x.csv", "--out", "{audio}/y.csv"], "pair list not found"),
        (["--audio", "{audio}/utt0.wav", "--text", "hi", "--phonemes", "h"], "not allowed with argument"),
        (["--audio", "{audio}/utt0.wav", "--text", "hi", "--batch-size", "0"], "must be a positive integer"),
    ],
)
def test_score_user_errors_are_one_line_exit_2(args, message, export, audio_dir, capsys):
    argv = ["score", "--model", str(export)] + [a.format(audio=audio_dir) for a in args]
    code, out, err = run(argv, capsys)
    assert code == 2 and out == ""
    assert message in one_error_line(err)


def test_model_dir_errors(tmp_path, audio_dir, export, capsys):
    wav = audio_dir / "utt0.wav"
    code, _, err = run(["score", "--model", tmp_path / "none", "--audio", wav, "--text", "hi"], capsys)
    assert code == 2 and "model directory not found" in one_error_line(err)
    (tmp_path / "empty").mkdir()
    code, _, err = run(["score", "--model", tmp_path / "empty", "--audio", wav, "--text", "hi"], capsys)
    assert code == 2 and "is not a scraps model directory: config.yaml is missing" in one_error_line(err)
    tts = tmp_path / "tts"
    tts.mkdir()
    for f in ("config.yaml", "model.safetensors"):
        (tts / f).write_bytes((export / f).read_bytes())
    config = (export / "config.yaml").read_text()
    (tts / "config.yaml").write_text(config.replace("model_type: scraps", "model_type: tts"))
    code, _, err = run(["evaluate", "--model", tts, "--cuts", "x.jsonl.gz", "--out", tmp_path / "r"], capsys)
    assert code == 2 and "holds a tts model, not a scraps model" in one_error_line(err)


def test_export_without_frontend_scores_phonemes_only(tmp_path, export, audio_dir, capsys):
    model = ScrapsModel.from_pretrained(export)
    bare = model.save_pretrained(tmp_path / "bare", model.vocab)  # no frontend_config
    wav = audio_dir / "utt0.wav"
    code, _, err = run(["score", "--model", bare, "--audio", wav, "--text", "hello"], capsys)
    assert code == 2 and "holds no text frontend settings" in one_error_line(err)
    code, out, err = run(["score", "--model", bare, "--audio", wav, "--phonemes", "h ə l ˈ oʊ"], capsys)
    assert code == 0 and -1 <= float(out) <= 1


def test_parse_errors_are_one_line(capsys):
    code, _, err = run(["score", "--audio", "x.wav"], capsys)
    assert code == 2 and "the following arguments are required: --model" in one_error_line(err)
    code, _, err = run(["frobnicate"], capsys)
    assert code == 2 and "invalid choice" in one_error_line(err)


# -------------------------------------------------------------------------------------------------- evaluate
@pytest.fixture(scope="module")
def cuts_path(tmp_path_factory, audio_dir, frontend) -> Path:
    cuts = []
    for i, text in enumerate(TEXTS):
        rec = Recording.from_file(audio_dir / f"utt{i}.wav", recording_id=f"utt{i}")
        sup = SupervisionSegment(
            id=rec.id, recording_id=rec.id, start=0.0, duration=rec.duration, text=text, speaker="spk",
            custom={"phonemes": " ".join(frontend.phonemize(text)), "normalized": text},
        )  # fmt: skip
        cuts.append(MonoCut(id=rec.id, start=0.0, duration=rec.duration, channel=0, recording=rec,
                            supervisions=[sup]))  # fmt: skip
    path = tmp_path_factory.mktemp("manifests") / "cuts_test.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(path)
    return path


def test_evaluate_writes_a_deterministic_report(export, cuts_path, tmp_path, capsys):
    reports = []
    for run_dir in ("a", "b"):
        argv = ["evaluate", "--model", export, "--cuts", cuts_path, "--out", tmp_path / run_dir, "--seed", "5",
                "--batch-size", "3"]  # fmt: skip
        code, out, err = run(argv, capsys)
        assert code == 0, err
        assert "R@1" in out and "report.json" in out
        reports.append((tmp_path / run_dir / "report.json").read_text())
    assert reports[0] == reports[1]
    report = json.loads(reports[0])
    assert report["model"] == str(export) and report["cuts"] == str(cuts_path) and report["seed"] == 5
    assert report["n_utterances"] == len(TEXTS)
    for section in ("retrieval", "retrieval_32way"):
        for d in ("p2a", "a2p"):
            assert set(report[section][d]) == {"r1", "r5", "median_rank"}
            assert 0 <= report[section][d]["r1"] <= 1 and 0 <= report[section][d]["r5"] <= 1
    assert set(report["sensitivity"]) == {"0.05", "0.1", "0.2", "0.3", "0.5"}
    assert {"fell", "rose", "mean_relative_change"} <= set(report["sensitivity"]["0.2"])
    assert set(report["robustness"]) == {"gauss_0.25", "gauss_0.5", "gauss_0.75", "snr_20", "snr_10", "snr_5", "snr_0"}
    assert "rms(x)" in report["definitions"]["gauss"]
    md = (tmp_path / "a" / "report.md").read_text()
    assert "| whole set |" in md and "| 20.0 % |" in md and "SNR 0 dB" in md
    assert (tmp_path / "a" / "corruption.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_user_errors(export, cuts_path, tmp_path, capsys, monkeypatch):
    out_dir = tmp_path / "r"
    code, _, err = run(["evaluate", "--model", export, "--cuts", tmp_path / "no.jsonl.gz", "--out", out_dir], capsys)
    assert code == 2 and "manifest not found" in one_error_line(err)
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_text("not a manifest")
    code, _, err = run(["evaluate", "--model", export, "--cuts", bad, "--out", out_dir], capsys)
    assert code == 2 and "cannot read manifest" in one_error_line(err)
    code, _, err = run(["evaluate", "--model", export, "--cuts", cuts_path, "--out", out_dir, "--seed", "-1"], capsys)
    assert code == 2 and "non-negative" in one_error_line(err)
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)  # as where the eval extra is not installed
    argv = ["evaluate", "--model", export, "--cuts", cuts_path, "--out", out_dir, "--asr", "pocketsphinx"]
    code, _, err = run(argv, capsys)
    assert code == 2 and "pip install 'scraps-tts[eval]'" in one_error_line(err)
    assert not out_dir.exists()


def test_evaluate_with_pocketsphinx(export, cuts_path, tmp_path, capsys):
    pytest.importorskip("pocketsphinx")
    argv = ["evaluate", "--model", export, "--cuts", cuts_path, "--out", tmp_path, "--asr", "pocketsphinx",
            "--asr-utts", "1"]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err
    asr = json.loads((tmp_path / "report.json").read_text())["asr"]
    assert asr["n_utterances"] == 1 and asr["n_pairs"] == 8 and "coarse" in asr["engine"]
    assert (tmp_path / "score_vs_wer.png").is_file() and "Spearman" in (tmp_path / "report.md").read_text()
