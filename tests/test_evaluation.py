"""scraps.evaluation: batched scoring, retrieval, phoneme substitution, noise mixing, WER/Spearman, the report."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

from scraps.audio import SAMPLE_RATE, AudioError, resample
from scraps.audio.augment import mix_at_snr
from scraps.evaluation import (
    _SUBSTITUTION,
    MIN_AUDIO_SECONDS,
    ASRUnavailable,
    EvalSet,
    check_audio,
    embed_phoneme_ids,
    embed_waves,
    encode_phonemes,
    evaluate,
    load_eval_set,
    make_recognizer,
    mix_gaussian,
    rms,
    score_ids_audios,
    score_texts_audios,
    seeded_generator,
    spearman,
    subset_retrieval_metrics,
    substitute_phonemes,
    retrieval_metrics,
    word_error_rate,
)
from scraps.model import ScrapsConfig, ScrapsModel
from scraps.nn import EncoderConfig
from scraps.text import PhonemeVocab, TextError, TextFrontend

TEXTS = ["the cat sat on the mat.", "a big red boat", "she sells sea shells", "go home now, please!",
         "my dog likes warm bread", "look at the moon"]  # fmt: skip


def tiny_model(seed: int = 0) -> ScrapsModel:
    torch.manual_seed(seed)
    enc = EncoderConfig(dim=32, layers=1, heads=2, ff_mult=2, dropout=0.0, max_len=512)
    vocab = PhonemeVocab.default("espeak")
    config = ScrapsConfig(vocab_size=len(vocab), phonetic=enc, acoustic=enc, integrator_dim=24, embed_dim=16)
    model = ScrapsModel(config).eval()
    model.vocab = vocab
    model.frontend_config = TextFrontend(normalize=False).config()
    return model


def waveform(seconds: float, seed: int) -> torch.Tensor:
    """A speech-like test signal: a few harmonics under an envelope, plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 100 + 60 * torch.rand(1, generator=g)
    wav = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 6))
    wav = wav * torch.sin(math.pi * t / seconds) * 0.3 + 0.01 * torch.randn(t.shape, generator=g)
    return wav.float()


@pytest.fixture(scope="module")
def model() -> ScrapsModel:
    return tiny_model()


@pytest.fixture(scope="module")
def frontend() -> TextFrontend:
    return TextFrontend(normalize=False)


def write_cuts(folder: Path, texts: list[str], seconds: list[float], frontend: TextFrontend) -> Path:
    """A lhotse manifest like scraps.data.prepare writes (phonemes + normalized in the supervision's custom)."""
    folder.mkdir(parents=True, exist_ok=True)
    cuts = []
    for i, (text, sec) in enumerate(zip(texts, seconds)):
        path = folder / f"utt{i}.wav"
        sf.write(path, waveform(sec, i).numpy(), SAMPLE_RATE)
        rec = Recording.from_file(path, recording_id=f"utt{i}")
        sup = SupervisionSegment(
            id=f"utt{i}", recording_id=rec.id, start=0.0, duration=rec.duration, text=text, speaker="spk",
            custom={"phonemes": " ".join(frontend.phonemize(text)), "normalized": text},
        )  # fmt: skip
        cuts.append(MonoCut(id=f"utt{i}", start=0.0, duration=rec.duration, channel=0, recording=rec,
                            supervisions=[sup]))  # fmt: skip
    out = folder / "cuts_test.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(out)
    return out


# ------------------------------------------------------------------------------------------------ substitution
@pytest.mark.parametrize("rate", [0.05, 0.1, 0.2, 0.3, 0.5, 1.0])
def test_substitution_changes_exactly_round_rate_n_phones_and_never_other_tokens(rate, frontend):
    vocab = PhonemeVocab.default("espeak")
    phones = set(vocab.phoneme_ids())
    for seed, text in enumerate(TEXTS * 3):
        ids = vocab.encode(frontend.phonemize(text))
        n = sum(t in phones for t in ids)
        out = substitute_phonemes(ids, rate, vocab.phoneme_ids(), seeded_generator(7, seed))
        changed = [i for i, (a, b) in enumerate(zip(ids, out)) if a != b]
        assert len(out) == len(ids)
        assert len(changed) == round(rate * n)
        assert all(ids[i] in phones and out[i] in phones for i in changed)  # only phones, only by phones
        # specials, word boundaries, punctuation and stress marks are where they were
        assert [t for t in out if t not in phones] == [t for t in ids if t not in phones]
        assert out == substitute_phonemes(ids, rate, vocab.phoneme_ids(), seeded_generator(7, seed))


def test_substitution_spreads_over_positions_and_replacements():
    vocab = PhonemeVocab.default("espeak")
    phones = vocab.phoneme_ids()
    ids = [vocab.bos_id] + [phones[0]] * 10 + [vocab.eos_id]
    positions, replacements = set(), set()
    for seed in range(30):
        out = substitute_phonemes(ids, 0.2, phones, seeded_generator(seed))
        positions |= {i for i, t in enumerate(out) if t != ids[i]}
        replacements |= {t for t in out if t != phones[0]}
    assert positions == set(range(1, 11))
    assert phones[0] not in replacements and len(replacements) > 20


# ------------------------------------------------------------------------------------------------------ noise
def test_mix_gaussian_definition():
    x = waveform(0.5, 1)
    n = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    n = n - (n @ x) / (x @ x) * x  # orthogonal to x: powers add exactly
    assert torch.equal(mix_gaussian(x, 0.0, n), x)
    torch.testing.assert_close(mix_gaussian(x, 1.0, n), rms(x) * n)
    for a in (0.25, 0.5, 0.75):
        y = mix_gaussian(x, a, n)
        expected = rms(x) * math.sqrt((1 - a) ** 2 + a**2 * float(rms(n)) ** 2)
        torch.testing.assert_close(rms(y), expected, rtol=1e-4, atol=0)
    # rms(x) scales the noise: a louder signal gets louder noise, the mix scales linearly
    torch.testing.assert_close(mix_gaussian(3 * x, 0.5, n), 3 * mix_gaussian(x, 0.5, n))


def test_white_noise_condition_hits_the_snr():
    x = waveform(1.0, 2)[None]
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    y = mix_at_snr(x, noise, torch.tensor([10.0]))
    snr = 10 * torch.log10(x.pow(2).mean() / (y - x).pow(2).mean())
    assert abs(float(snr) - 10.0) < 1e-3


# -------------------------------------------------------------------------------------------------- retrieval
def test_retrieval_metrics_perfect_and_reversed():
    e = torch.nn.functional.normalize(torch.randn(40, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    r = retrieval_metrics(e, e)
    assert r["p2a"] == r["a2p"] == {"r1": 1.0, "r5": 1.0, "median_rank": 1.0}
    worst = retrieval_metrics(e, -e)  # the match is the least similar candidate
    assert worst["p2a"]["r1"] == 0.0 and worst["p2a"]["median_rank"] == 40.0


def test_32way_retrieval_is_easier_than_the_whole_set_and_seeded():
    g = torch.Generator().manual_seed(1)
    e_p = torch.nn.functional.normalize(torch.randn(100, 8, generator=g), dim=-1)
    e_a = torch.nn.functional.normalize(e_p + 0.8 * torch.randn(100, 8, generator=g), dim=-1)
    whole = retrieval_metrics(e_p, e_a)
    way = subset_retrieval_metrics(e_p, e_a, 32, seeded_generator(0))
    assert way == subset_retrieval_metrics(e_p, e_a, 32, seeded_generator(0))
    for d in ("p2a", "a2p"):
        assert 1 <= way[d]["median_rank"] <= 32
        assert way[d]["r1"] >= whole[d]["r1"] and way[d]["median_rank"] <= whole[d]["median_rank"]
    assert whole["p2a"]["r1"] < 1.0  # the task is not trivial
    # fewer items than the way: every other item competes, which is the whole-set task
    few = subset_retrieval_metrics(e_p[:10], e_a[:10], 32, seeded_generator(0))
    assert few == retrieval_metrics(e_p[:10], e_a[:10])


# ---------------------------------------------------------------------------------------------------- scoring
def test_batched_scores_equal_scores_alone(model, frontend):
    ids = [model.vocab.encode(frontend.phonemize(t)) for t in TEXTS]
    waves = [waveform(0.3 + 0.17 * i, i) for i in range(len(TEXTS))]
    batched = score_ids_audios(model, ids, waves, batch_size=4)
    alone = [score_ids_audios(model, [i], [w])[0] for i, w in zip(ids, waves)]
    assert batched == pytest.approx(alone, abs=1e-5)
    # and they are the model's own score of each pair
    with torch.no_grad():
        direct = model.score(torch.tensor([ids[2]]), torch.tensor([len(ids[2])]), waves[2][None],
                             torch.tensor([len(waves[2])]))  # fmt: skip
    assert batched[2] == pytest.approx(float(direct), abs=1e-5)
    # embeddings come back in input order whatever the length sorting did
    e = embed_waves(model, waves, batch_size=2)
    torch.testing.assert_close(e[3], embed_waves(model, [waves[3]])[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(embed_phoneme_ids(model, ids, 3)[5], embed_phoneme_ids(model, [ids[5]])[0],
                               atol=1e-5, rtol=0)  # fmt: skip


def test_score_texts_audios_uses_the_frontend_and_resamples(model, frontend):
    waves = [waveform(0.5, 3), waveform(0.8, 4)]
    scores = score_texts_audios(model, TEXTS[:2], waves)
    ids = [model.encode_text(t, frontend) for t in TEXTS[:2]]
    assert scores == pytest.approx(score_ids_audios(model, ids, waves), abs=1e-6)
    low = [resample(w, SAMPLE_RATE, 16000) for w in waves]
    from_16k = score_texts_audios(model, TEXTS[:2], low, sr=16000)
    assert from_16k == pytest.approx(score_ids_audios(model, ids, [resample(w, 16000) for w in low]), abs=1e-6)
    with pytest.raises(TextError, match="nothing to pronounce"):
        score_texts_audios(model, ["..."], waves[:1])
    with pytest.raises(AudioError, match="too short: item 1 lasts"):
        score_texts_audios(model, TEXTS[:2], [waves[0], torch.zeros(100)])


def test_check_audio_bounds(model):
    check_audio(torch.zeros(int(MIN_AUDIO_SECONDS * SAMPLE_RATE)), model, "x")
    with pytest.raises(AudioError, match="too short: clip.wav lasts 0.040 s"):
        check_audio(torch.zeros(960), model, "clip.wav")
    too_long = 512 * 4 * 256 + 256  # acoustic max_len 512 positions after 4x subsampling
    with pytest.raises(AudioError, match="too long"):
        check_audio(torch.zeros(too_long), model, "long.wav")


def test_encode_phonemes(model):
    ids = encode_phonemes(model, "h ə l ˈ oʊ | w ˈ ɜ ː l d")
    assert ids[0] == model.vocab.bos_id and ids[-1] == model.vocab.eos_id
    assert model.vocab.decode(ids) == "h ə l ˈ oʊ | w ˈ ɜ ː l d".split()
    with pytest.raises(TextError, match=r"\['Q', 'xx'\] are not in the model's vocabulary"):
        encode_phonemes(model, "h Q ə xx")
    with pytest.raises(TextError, match="not in the model's vocabulary"):
        encode_phonemes(model, "<pad> h")
    with pytest.raises(TextError, match="hold no phone"):
        encode_phonemes(model, "| ˈ .")
    with pytest.raises(TextError, match="hold no phone"):
        encode_phonemes(model, "   ")


# -------------------------------------------------------------------------------------------------- WER + rho
def test_word_error_rate():
    assert word_error_rate("the cat sat", "the cat sat") == 0.0
    assert word_error_rate("The cat, sat.", "the cat sat") == 0.0  # case and punctuation ignored
    assert word_error_rate("the cat sat", "the bat sat") == pytest.approx(1 / 3)
    assert word_error_rate("the cat sat", "the cat") == pytest.approx(1 / 3)
    assert word_error_rate("the cat sat", "oh the cat sat down") == pytest.approx(2 / 3)
    assert word_error_rate("the cat", "") == 1.0
    assert word_error_rate("a b", "c d e f") == 2.0


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 35, 1000]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties take average ranks: x ranks (1.5, 1.5, 3), y ranks (1, 2, 3)
    assert spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(math.sqrt(3) / 2)
    assert spearman([1, 2, 3], [5, 5, 5]) is None


class FakeASR:
    """Hears the utterances in evaluation order; keeps fewer of their words the noisier (zero-crossing rate) a clip."""

    description = "fake"

    def __init__(self, references: list[str]) -> None:
        self.references = references
        self.calls = 0

    def transcribe(self, wav: torch.Tensor) -> str:
        words = self.references[self.calls % len(self.references)].split()
        self.calls += 1
        zcr = float((torch.sign(wav[1:]) != torch.sign(wav[:-1])).float().mean())  # clean ~0.04, white noise ~0.5
        return " ".join(words[: round(len(words) * min(1.0, max(0.0, 1 - 3 * (zcr - 0.05))))])


# ------------------------------------------------------------------------------------------------ the report
@pytest.fixture(scope="module")
def eval_set(model, frontend, tmp_path_factory) -> EvalSet:
    folder = tmp_path_factory.mktemp("evalset")
    cuts_path = write_cuts(folder, TEXTS, [0.4, 0.5, 0.6, 0.45, 0.7, 0.55], frontend)
    return load_eval_set(CutSet.from_file(cuts_path), model)


def test_load_eval_set_skips_bad_cuts_with_reasons(model, frontend, tmp_path):
    cuts_path = write_cuts(tmp_path, TEXTS[:3], [0.4, 0.03, 0.5], frontend)
    (tmp_path / "utt2.wav").unlink()
    data = load_eval_set(CutSet.from_file(cuts_path), model)  # SpeechDataset's warning becomes the reason
    assert data.cut_ids == ["utt0"]
    assert data.references == [TEXTS[0]]
    assert data.phoneme_ids[0] == model.vocab.encode(frontend.phonemize(TEXTS[0]))
    reasons = {s["id"]: s["reason"] for s in data.skipped}
    assert "too short" in reasons["utt1"]
    assert "not found" in reasons["utt2"]


def test_report_is_deterministic_and_well_formed(model, eval_set):
    report = evaluate(model, eval_set, seed=3, batch_size=4, progress=False)
    assert report == evaluate(model, eval_set, seed=3, batch_size=4, progress=False)
    n = len(TEXTS)
    assert report["n_utterances"] == n and report["seed"] == 3
    assert report["retrieval_32way"]["way"] == n
    for section in ("retrieval", "retrieval_32way"):
        for d in ("p2a", "a2p"):
            r = report[section][d]
            assert 0 <= r["r1"] <= r["r5"] <= 1 and 1 <= r["median_rank"] <= n
    assert list(report["sensitivity"]) == ["0.05", "0.1", "0.2", "0.3", "0.5"]
    for s in report["sensitivity"].values():
        assert 0 <= s["fell"] <= 1 and 0 <= s["rose"] <= 1 and s["fell"] + s["rose"] <= 1
        assert math.isfinite(s["mean_relative_change"])
    assert list(report["robustness"]) == ["gauss_0.25", "gauss_0.5", "gauss_0.75", "snr_20", "snr_10", "snr_5", "snr_0"]
    assert all(math.isfinite(r["mean_relative_change"]) for r in report["robustness"].values())
    assert "x' = (1 - a) * x + a * rms(x) * n" in report["definitions"]["gauss"]
    # the same draws whatever the batching; another seed draws differently
    other_batching = evaluate(model, eval_set, seed=3, batch_size=1, progress=False)
    for section in ("sensitivity", "robustness"):
        for key, stats in report[section].items():
            assert other_batching[section][key] == pytest.approx(stats, abs=1e-5)
    assert evaluate(model, eval_set, seed=4, progress=False)["robustness"] != report["robustness"]


def test_sensitivity_matches_scoring_the_substituted_phonemes(model, eval_set):
    report = evaluate(model, eval_set, seed=0, progress=False)
    k = 2  # rate 0.2
    sub = [substitute_phonemes(ids, 0.2, model.vocab.phoneme_ids(), seeded_generator(0, _SUBSTITUTION, k, i))
           for i, ids in enumerate(eval_set.phoneme_ids)]  # fmt: skip
    old = torch.tensor(score_ids_audios(model, eval_set.phoneme_ids, eval_set.waves))
    new = torch.tensor(score_ids_audios(model, sub, eval_set.waves))
    assert report["sensitivity"]["0.2"]["fell"] == pytest.approx(float((new < old).float().mean()), abs=1e-6)
    rel = ((new - old) / old.abs()).mean()
    assert report["sensitivity"]["0.2"]["mean_relative_change"] == pytest.approx(float(rel), abs=1e-4)


def test_report_with_asr_correlates_score_and_wer(model, eval_set):
    m = 4  # the ASR decodes the first 4 of the 6 utterances
    asr = FakeASR(eval_set.references[:m])
    report = evaluate(model, eval_set, seed=0, asr=asr, asr_utts=m, progress=False)
    assert asr.calls == m * 8  # clean + 7 noise conditions
    a = report["asr"]
    assert a["conditions"] == ["clean", *report["robustness"]] and a["n_pairs"] == m * 8 and a["n_utterances"] == m
    wer = a["mean_wer"]
    assert wer["clean"] == 0.0 and wer["gauss_0.75"] == 1.0  # WER is against each clip's own reference
    assert wer["gauss_0.25"] < wer["gauss_0.5"] < wer["gauss_0.75"]
    assert wer["snr_20"] < wer["snr_10"] < wer["snr_5"] < wer["snr_0"]
    assert a["pairs"]["wer"][:m] == [0.0] * m and len(a["pairs"]["score"]) == m * 8
    clean = score_ids_audios(model, eval_set.phoneme_ids[:m], eval_set.waves[:m])
    assert a["pairs"]["score"][:m] == pytest.approx(clean, abs=1e-5)
    assert a["pairs"]["score"][m : 2 * m] != a["pairs"]["score"][:m]
    expected = spearman(a["pairs"]["score"], a["pairs"]["wer"])
    assert a["spearman_score_wer"] == pytest.approx(expected, abs=1e-6)
    assert -1 <= a["spearman_score_wer"] <= 1
    assert a["engine"] == "fake"
    assert evaluate(model, eval_set, asr=FakeASR(eval_set.references), progress=False)["asr"]["n_pairs"] == 6 * 8


def test_missing_pocketsphinx_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)
    with pytest.raises(ASRUnavailable, match=r"pip install 'scraps-tts\[eval\]'"):
        make_recognizer("pocketsphinx")
    with pytest.raises(ASRUnavailable, match="unknown ASR"):
        make_recognizer("whisper")


def test_pocketsphinx_decodes_offline():
    pytest.importorskip("pocketsphinx")
    from scraps.data.espeak_synth import EspeakSynth

    asr = make_recognizer("pocketsphinx")
    assert "pocketsphinx" in asr.description and "coarse" in asr.description
    synth = EspeakSynth("en-us")
    text = "one two three four five"
    wav = resample(torch.from_numpy(synth.synthesize(text)), synth.sample_rate, SAMPLE_RATE)
    assert word_error_rate(text, asr.transcribe(wav)) <= 0.4  # it hears espeak digits (measured: 0.2)
    noise = torch.randn(wav.shape, generator=torch.Generator().manual_seed(0))
    assert word_error_rate(text, asr.transcribe(mix_gaussian(wav, 0.9, noise))) >= 0.8  # and not much in noise
