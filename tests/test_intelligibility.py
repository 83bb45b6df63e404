"""scraps.degrade and scraps.intelligibility: graded degradations, score/WER pairs, Spearman, counted ASR failures."""
from __future__ import annotations

import json
import math

import pytest
import torch

from scraps.audio import SAMPLE_RATE
from scraps.cli import main
from scraps.degrade import band_limit, replace_words, telephone, time_stretch, white_noise, words_of
from scraps.evaluation import EvalSet, rms, word_error_rate
from scraps.intelligibility import conditions, intelligibility, write_intelligibility_report
from scraps.model import ScrapsConfig, ScrapsModel
from scraps.nn import EncoderConfig
from scraps.text import PhonemeVocab, TextFrontend

TEXTS = ["the cat sat on the mat.", "a big red boat sails home", "she sells sea shells, by the shore",
         "go home now, please!"]  # fmt: skip


def tone(freq: float, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return torch.sin(2 * math.pi * freq * t)


def speechlike(seconds: float, seed: int) -> torch.Tensor:
    """Harmonics of a random pitch under an envelope, plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 100 + 60 * torch.rand(1, generator=g)
    wav = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 6))
    return (0.3 * wav * torch.sin(math.pi * t / seconds) + 0.01 * torch.randn(t.shape, generator=g)).float()


def band_energy(wav: torch.Tensor, low: float, high: float) -> float:
    spectrum = torch.fft.rfft(wav).abs() ** 2
    freqs = torch.fft.rfftfreq(len(wav), 1 / SAMPLE_RATE)
    return float(spectrum[(freqs >= low) & (freqs <= high)].sum())


@pytest.fixture(scope="module")
def model() -> ScrapsModel:
    torch.manual_seed(0)
    enc = EncoderConfig(dim=32, layers=1, heads=2, ff_mult=2, dropout=0.0, max_len=512)
    vocab = PhonemeVocab.default("espeak")
    model = ScrapsModel(ScrapsConfig(vocab_size=len(vocab), phonetic=enc, acoustic=enc, integrator_dim=24,
                                     embed_dim=16)).eval()  # fmt: skip
    model.vocab = vocab
    model.frontend_config = TextFrontend(normalize=False).config()
    return model


def eval_set(model: ScrapsModel, waves: list[torch.Tensor], texts: list[str]) -> EvalSet:
    frontend = model.frontend()
    return EvalSet(cut_ids=[f"utt{i}" for i in range(len(texts))],
                   phoneme_ids=[model.encode_text(t, frontend) for t in texts], waves=waves, references=texts)


class FakeASR:
    """Hears each clip's reference (found by its length); drops words the more, the noisier the clip (zero crossings).

    ``fail_on`` lengths raise instead, as a recogniser might on odd audio."""

    description = "fake"

    def __init__(self, by_length: dict[int, str], fail_on: tuple[int, ...] = ()) -> None:
        self.by_length, self.fail_on, self.calls = by_length, fail_on, 0

    def transcribe(self, wav: torch.Tensor) -> str:
        self.calls += 1
        if len(wav) in self.fail_on:
            raise RuntimeError("decoder exploded")
        nearest = min(self.by_length, key=lambda n: abs(n - len(wav)))
        words = self.by_length[nearest].split()
        zcr = float((torch.sign(wav[1:]) != torch.sign(wav[:-1])).float().mean())
        return " ".join(words[: round(len(words) * min(1.0, max(0.0, 1 - 3 * (zcr - 0.05))))])


# ---------------------------------------------------------------------------------------------- degradations
@pytest.mark.parametrize("snr_db", [20, 10, 0])
def test_white_noise_lands_at_the_snr(snr_db):
    clean = speechlike(1.0, 0)
    noisy = white_noise(clean, snr_db, torch.Generator().manual_seed(1))
    measured = 20 * math.log10(float(rms(clean)) / float(rms(noisy - clean)))
    assert measured == pytest.approx(snr_db, abs=0.01)
    assert torch.equal(noisy, white_noise(clean, snr_db, torch.Generator().manual_seed(1)))


def test_band_limits_keep_the_band_and_remove_the_rest():
    wav = tone(150) + tone(1000) + tone(5000)
    phone = telephone(wav)
    assert band_energy(phone, 900, 1100) == pytest.approx(band_energy(wav, 900, 1100), rel=1e-3)
    assert band_energy(phone, 4900, 5100) < 1e-6 * band_energy(wav, 4900, 5100)
    assert band_energy(phone, 100, 200) < 1e-6 * band_energy(wav, 100, 200)
    low = band_limit(wav, high_hz=2000)
    assert band_energy(low, 100, 200) == pytest.approx(band_energy(wav, 100, 200), rel=1e-3)
    assert band_energy(low, 4900, 5100) < 1e-6 * band_energy(wav, 4900, 5100)
    assert phone.shape == low.shape == wav.shape


@pytest.mark.parametrize("speed", [0.7, 1.3])
def test_time_stretch_changes_the_length_and_keeps_the_pitch(speed):
    wav = tone(440, 1.0)
    out = time_stretch(wav, speed)
    assert len(out) == round(len(wav) / speed)
    spectrum = torch.fft.rfft(out[2048:-2048]).abs()
    peak = float(torch.fft.rfftfreq(len(out) - 4096, 1 / SAMPLE_RATE)[spectrum.argmax()])
    assert peak == pytest.approx(440, abs=5)
    with pytest.raises(ValueError):
        time_stretch(wav, 0.0)


def test_replace_words_changes_round_rate_n_words_and_keeps_punctuation():
    text = "She sells sea shells, by the shore; don't they?"
    vocabulary = words_of(TEXTS)
    for seed in range(10):
        out = replace_words(text, 0.3, vocabulary, torch.Generator().manual_seed(seed))
        original, changed = text.split(), out.split()
        assert len(changed) == len(original)
        diff = [(a, b) for a, b in zip(original, changed) if a != b]
        assert len(diff) == round(0.3 * 9)
        assert all(b.strip(",;?").lower() in vocabulary for _, b in diff)
        assert [w[-1] for w in changed if w[-1] in ",;?"] == [",", ";", "?"]
        assert word_error_rate(text, out) == pytest.approx(3 / 9)
        assert out == replace_words(text, 0.3, vocabulary, torch.Generator().manual_seed(seed))
    assert replace_words("hello", 0.1, ["hello", "world"], torch.Generator()) == "world"  # at least one word
    with pytest.raises(ValueError):
        replace_words("...", 0.1, vocabulary, torch.Generator())


# ---------------------------------------------------------------------------------------------- correlation
def test_intelligibility_scores_every_pair_and_correlates(model, tmp_path):
    waves = [speechlike(0.6 + 0.2 * i, i) for i in range(len(TEXTS))]
    data = eval_set(model, waves, TEXTS)
    asr = FakeASR({len(w): t for w, t in zip(waves, TEXTS)})
    report = intelligibility(model, data, asr, seed=0, progress=False)
    names = [c.name for c in conditions(0)]
    assert len(names) == 11 and names[0] == "clean"
    assert asr.calls == len(TEXTS) * 9  # words conditions reuse the clean transcript
    assert report["n_pairs"] == len(TEXTS) * len(names)
    assert report["failures"] == {}
    assert report["spearman_score_wer"] is not None and -1 <= report["spearman_score_wer"] <= 1
    clean = report["conditions"]["clean"]
    assert clean["mean_wer"] == 0 and clean["mean_relative_change"] == 0
    assert report["conditions"]["snr_0"]["mean_wer"] > report["conditions"]["snr_20"]["mean_wer"]
    for row in (r for r in report["pairs"] if r["kind"] == "words"):
        # the wrong text is scored against the clean audio's transcript, which is the true one here
        assert row["wer"] == pytest.approx(row["word_edit_rate"], abs=1e-6) and row["wer"] > 0
        assert row["text"] != TEXTS[int(row["cut_id"][3:])]
    again = intelligibility(model, data, FakeASR(asr.by_length), seed=0, progress=False)
    assert again == report  # seeded: same report
    paths = write_intelligibility_report({"model": "m", "cuts": "c", **report}, tmp_path)
    assert [p.name for p in paths] == ["intelligibility.json", "intelligibility.md", "score_vs_wer.png"]
    assert json.loads(paths[0].read_text())["n_pairs"] == report["n_pairs"]
    assert "Spearman(score, WER)" in paths[1].read_text() and paths[2].stat().st_size > 1000


def test_asr_errors_are_counted_not_fatal(model):
    waves = [speechlike(0.6 + 0.2 * i, i) for i in range(3)]
    data = eval_set(model, waves, TEXTS[:3])
    asr = FakeASR({len(w): t for w, t in zip(waves, TEXTS)}, fail_on=(len(waves[0]),))
    report = intelligibility(model, data, asr, seed=0, progress=False)
    # utt0's clean and noisy/band clips fail (same length); its words conditions lack a clean transcript
    assert report["failures"]["asr_failed"] == 1 + 4 + 2 + 2
    assert report["n_pairs"] == 3 * 11 - 9
    assert all(r["cut_id"] != "utt0" or r["kind"] == "stretch" for r in report["pairs"])


def test_clips_pocketsphinx_cannot_decode_are_counted(model):
    pytest.importorskip("pocketsphinx")
    from scraps.evaluation import make_recognizer

    silence = torch.zeros(SAMPLE_RATE // 4)
    blip = 0.1 * torch.randn(int(0.05 * SAMPLE_RATE), generator=torch.Generator().manual_seed(0))  # 50 ms
    data = eval_set(model, [silence, blip], TEXTS[:2])
    report = intelligibility(model, data, make_recognizer("pocketsphinx"), seed=0, progress=False)
    assert report["failures"].get("no_hypothesis", 0) >= 2  # at least both clean clips: nothing recognised
    assert report["failures"].get("audio_unusable", 0) == 1  # the 50 ms clip at 1.3x speed is too short to score
    empty = [r for r in report["pairs"] if not r["hypothesis"].strip() and r["kind"] != "words"]
    assert empty and all(r["wer"] == 1.0 for r in empty)  # an empty transcript misses every word


# ------------------------------------------------------------------------------------------------------- CLI
def test_cli_intelligibility_writes_the_report(model, tmp_path, monkeypatch, capsys):
    import soundfile as sf
    from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

    import scraps.cli as cli

    frontend = model.frontend()
    cuts, by_length = [], {}
    for i, text in enumerate(TEXTS[:3]):
        wav = speechlike(0.6 + 0.2 * i, i)
        sf.write(tmp_path / f"utt{i}.wav", wav.numpy(), SAMPLE_RATE)
        by_length[len(wav)] = text
        rec = Recording.from_file(tmp_path / f"utt{i}.wav", recording_id=f"utt{i}")
        sup = SupervisionSegment(id=f"utt{i}", recording_id=rec.id, start=0.0, duration=rec.duration, text=text,
                                 custom={"phonemes": " ".join(frontend.phonemize(text)), "normalized": text})
        cuts.append(MonoCut(id=f"utt{i}", start=0.0, duration=rec.duration, channel=0, recording=rec,
                            supervisions=[sup]))
    CutSet.from_cuts(cuts).to_file(tmp_path / "cuts.jsonl.gz")
    export = model.save_pretrained(tmp_path / "export", model.vocab, model.frontend_config)
    monkeypatch.setattr(cli, "make_recognizer", lambda name: FakeASR(by_length))
    argv = ["intelligibility", "--model", export, "--cuts", tmp_path / "cuts.jsonl.gz", "--out", tmp_path / "rep",
            "--asr", "pocketsphinx"]
    assert main([str(a) for a in argv]) == 0
    out = capsys.readouterr().out
    assert "Spearman(score, WER)" in out and (tmp_path / "rep" / "score_vs_wer.png").is_file()
    assert main([str(a) for a in argv[:-2]]) == 2  # --asr is required: one line, exit 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    # a second model's run reuses the transcripts: the degraded audio is the same, nothing is decoded again
    first = json.loads((tmp_path / "rep" / "intelligibility.json").read_text())
    deaf = FakeASR(by_length, fail_on=tuple(range(10**6)))  # would fail on every clip it had to decode
    monkeypatch.setattr(cli, "make_recognizer", lambda name: deaf)
    reuse = argv[:6] + [tmp_path / "rep2", "--asr", "pocketsphinx", "--reuse-asr", tmp_path / "rep" /
                        "intelligibility.json"]
    assert main([str(a) for a in reuse]) == 0 and deaf.calls == 0
    second = json.loads((tmp_path / "rep2" / "intelligibility.json").read_text())
    assert second["n_reused_transcripts"] == 3 * 9 and second["pairs"] == first["pairs"]
    capsys.readouterr()
    assert main([str(a) for a in reuse + ["--seed", "1"]]) == 2  # another seed: other noise, other transcripts
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--reuse-asr" in err[0] and "seed" in err[0]
