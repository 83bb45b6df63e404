"""Free-running TTS evaluation: MCD-DTW, the SCRAPS judge, skipped cuts, and `tts-evaluate` end to end."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from lhotse import CutSet

from scraps.nn.config import EncoderConfig
from tts.cli import evaluate_main
from tts.decoder import DecoderConfig
from tts.evaluation import ScrapsJudge, dtw_mean_cost, mcd_dtw
from tts.model import TTSConfig, TTSModel


def _naive_dtw(cost: np.ndarray) -> float:
    """Textbook DTW (steps (1,0), (0,1), (1,1)) -> mean cost along the cheapest path."""
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    steps = np.zeros((n + 1, m + 1))
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            prev = min(((i - 1, j - 1), (i - 1, j), (i, j - 1)), key=lambda ij: acc[ij])
            acc[i, j] = cost[i - 1, j - 1] + acc[prev]
            steps[i, j] = steps[prev] + 1
    return acc[n, m] / steps[n, m]


@pytest.mark.parametrize("shape", [(6, 9), (12, 5), (1, 4), (7, 1), (10, 10)])
def test_dtw_equals_the_textbook_recursion(shape):
    cost = np.random.default_rng(sum(shape)).random(shape)
    assert dtw_mean_cost(cost) == pytest.approx(_naive_dtw(cost))


def test_mcd_of_identical_audio_is_zero_and_grows_with_distortion():
    g = torch.Generator().manual_seed(0)
    mel = torch.randn(100, 80, generator=g) - 4.0
    assert mcd_dtw(mel, mel) == pytest.approx(0.0, abs=1e-6)
    noise = torch.randn(100, 80, generator=g)
    values = [mcd_dtw(mel + a * noise, mel) for a in (0.05, 0.2, 0.8)]
    assert 0 < values[0] < values[1] < values[2]
    # time warping alone costs (almost) nothing: every frame repeated twice
    assert mcd_dtw(mel.repeat_interleave(2, dim=1), mel) == pytest.approx(0.0, abs=1e-6)


def _tiny_scraps(vocab):
    from scraps.model import ScrapsConfig, ScrapsModel

    torch.manual_seed(0)
    enc = EncoderConfig(dim=16, layers=1, heads=2, ff_mult=2, dropout=0.0)
    model = ScrapsModel(ScrapsConfig(vocab_size=len(vocab), phonetic=enc, acoustic=enc, integrator_dim=16,
                                     embed_dim=16)).eval()  # fmt: skip
    model.vocab = vocab
    return model


def test_judge_ranks_the_own_sentence_among_the_pool():
    from scraps.text.vocab import PhonemeVocab

    vocab = PhonemeVocab.default()
    model = _tiny_scraps(vocab)
    pool = [[1, 5 + k, 6 + k, 7 + k, 2] for k in range(40)]
    mels = [torch.randn(100, 30) - 4.0 for _ in range(3)]
    scores, ranks = ScrapsJudge(model, pool, way=32, seed=0).judge(pool[:3], mels)
    assert len(scores) == 3 and all(1 <= r <= 32 for r in ranks)
    # a pool holding only the own sentence leaves no competitor: rank 1
    assert ScrapsJudge(model, pool[:1], seed=0).judge(pool[:1], mels[:1])[1] == [1]


@pytest.fixture(scope="module")
def exports(tiny_corpus, tmp_path_factory):
    """An untrained tiny TTS export for the tiny corpus' speakers, and a tiny untrained SCRAPS export."""
    from scraps.data import speaker_map_from_cuts
    from scraps.data.prepare import frontend_for_data

    root = tmp_path_factory.mktemp("exports")
    frontend = frontend_for_data(tiny_corpus)
    speakers = sorted(speaker_map_from_cuts(CutSet.from_file(tiny_corpus / "cuts_train.jsonl.gz")))
    torch.manual_seed(0)
    enc = EncoderConfig(dim=16, layers=1, heads=2, ff_mult=2, dropout=0.0)
    dec = DecoderConfig(dim=16, layers=1, heads=2, ff_mult=2, dropout=0.0, prenet_dim=16, postnet_channels=16,
                        postnet_layers=2)  # fmt: skip
    tts = TTSModel(TTSConfig(vocab_size=len(frontend.vocab), encoder=enc, decoder=dec, n_speakers=len(speakers),
                             speaker_dim=4, aligner_dim=8, duration_channels=8))  # fmt: skip
    with torch.no_grad():  # about 6 frames per phoneme, like read speech
        tts.duration_predictor.head.weight.zero_()
        tts.duration_predictor.head.bias.fill_(float(np.log(6.0)))
    tts.save_pretrained(root / "tts", frontend.vocab, speakers, frontend_config=frontend.config())
    _tiny_scraps(frontend.vocab).save_pretrained(root / "scraps", frontend.vocab, frontend_config=frontend.config())
    return root / "tts", root / "scraps"


def test_tts_evaluate_end_to_end_with_baselines_and_skipped_cuts(exports, tiny_corpus, tmp_path, capsys):
    tts_dir, scraps_dir = exports
    cuts = list(CutSet.from_file(tiny_corpus / "cuts_dev.jsonl.gz"))
    bad_audio = cuts[0].to_dict()
    bad_audio["id"] = "missing-audio"
    bad_audio["recording"]["sources"][0]["source"] = str(tmp_path / "nowhere.flac")
    bad_speaker = cuts[1].to_dict()
    bad_speaker["id"] = "stranger"
    bad_speaker["supervisions"][0]["speaker"] = "nobody-we-know"
    bad_phone = cuts[2].to_dict()
    bad_phone["id"] = "odd-phone"
    bad_phone["supervisions"][0]["custom"]["phonemes"] += " ʘ"
    manifest = tmp_path / "cuts.jsonl.gz"
    CutSet.from_dicts([*(c.to_dict() for c in cuts), bad_audio, bad_speaker, bad_phone]).to_file(manifest)

    out = tmp_path / "report"
    code = evaluate_main(["--model", str(tts_dir), "--cuts", str(manifest), "--out", str(out), "--scraps",
                          str(scraps_dir), "--vocoder", "griffinlim", "--plots", "2"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["n_utterances"] == len(cuts) and report["n_skipped"] == 3
    reasons = {s["id"]: s["reason"] for s in report["skipped"]}
    assert "nobody-we-know" in reasons["stranger"] and "ʘ" in reasons["odd-phone"]
    assert "missing-audio" in reasons
    assert set(report["summary"]) == {"model", "ceiling", "floor"}
    for row in report["utterances"]:
        assert {"model", "ceiling", "floor"} <= set(row)
        assert row["model"]["rank"] >= 1 and -1 <= row["model"]["scraps_score"] <= 1
    # the ceiling is the reference through the vocoder: far closer to it than an untrained model
    assert report["summary"]["ceiling"]["mcd_dtw"] < report["summary"]["model"]["mcd_dtw"]
    assert report["summary"]["ceiling"]["length_ratio_mean"] == pytest.approx(1.0)
    assert report["summary"]["model"]["hit_cap"] == 0
    md = (out / "report.md").read_text()
    assert "| ceiling |" in md and "| floor |" in md and "MCD" in md
    assert (out / "utterances.png").is_file()
    err = capsys.readouterr().err
    assert err.count("skipped ") == 3


def test_tts_evaluate_user_errors_are_one_line(exports, tmp_path, capsys):
    tts_dir, _ = exports
    assert evaluate_main(["--model", str(tts_dir), "--cuts", str(tmp_path / "none.jsonl.gz"), "--out",
                          str(tmp_path / "o")]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: manifest not found") and "\n" not in err
    assert evaluate_main(["--model", str(tmp_path), "--cuts", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
