"""The offline demo corpus: sentence generator, espeak-ng synthesiser, corpus writer."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from scraps.data.demo import write_demo_corpus
from scraps.data.demo_sentences import _cardinal, _ordinal, _year, generate_sentences, generate_utterances
from scraps.data.espeak_synth import EspeakSynth, list_speakers, trim_silence

TEXT = "The quick brown fox jumps over the lazy dog near the harbour."


# ----------------------------------------------------------------------------------------------------- sentences


def test_sentences_are_deterministic_per_seed() -> None:
    first = generate_sentences(300, seed=0)
    assert first == generate_sentences(300, seed=0)
    assert generate_sentences(120, seed=0) == first[:120]  # drawn one after another
    other = generate_sentences(300, seed=1)
    assert other != first
    assert len(set(first) & set(other)) < 30


def test_five_thousand_distinct_well_formed_sentences() -> None:
    sentences = generate_sentences(5000, seed=7)
    assert len(sentences) == len(set(sentences)) == 5000
    for sentence in sentences:
        assert sentence.strip() == sentence and sentence[0].isupper()
        assert 4 <= len(sentence.split()) <= 16, sentence
        assert "|" not in sentence and "\n" not in sentence
        assert sentence[-1] in ".?!", sentence
        assert not re.search(r"\b[Aa] [aeiouAEIOU]", sentence), sentence  # "an" before a vowel
    questions = sum(s.endswith("?") for s in sentences)
    exclamations = sum(s.endswith("!") for s in sentences)
    assert questions > 250 and exclamations > 150
    patterns = (r"\$\d", r"£\d", r"\b\d{1,2}:\d\d\b", r"\b(1[89]|20)\d\d\b", r"\d%", r"\d(st|nd|rd|th)\b", r"\d,\d{3}")
    for pattern in patterns:
        assert sum(bool(re.search(pattern, s)) for s in sentences) > 20, pattern


def test_spoken_forms_have_numbers_in_words() -> None:
    utterances = generate_utterances(2000, seed=3)
    assert [u.text for u in utterances] == generate_sentences(2000, seed=3)
    with_digits = [u for u in utterances if re.search(r"\d", u.text)]
    assert len(with_digits) > 400
    for u in utterances:
        assert not re.search(r"[\d$£%]", u.spoken), u.spoken
        if not re.search(r"[\d$£%]|Dr\.|Mr\.", u.text):
            assert u.spoken == u.text
    money = next(u for u in utterances if re.search(r"\$\d+\b(?!\.\d)", u.text))
    assert "dollar" in money.spoken


@pytest.mark.parametrize(
    ("n", "words"),
    [(7, "seven"), (40, "forty"), (99, "ninety nine"), (250, "two hundred and fifty"),
     (1250, "one thousand two hundred and fifty"), (2005, "two thousand and five"), (3000, "three thousand")],
)
def test_cardinal(n: int, words: str) -> None:
    assert _cardinal(n) == words


def test_ordinals_and_years() -> None:
    assert [_ordinal(n) for n in (1, 2, 3, 5, 12, 20, 21, 30)] == [
        "first", "second", "third", "fifth", "twelfth", "twentieth", "twenty first", "thirtieth"]
    assert [_year(y) for y in (1906, 1987, 2000, 2005, 2010, 2021)] == [
        "nineteen oh six", "nineteen eighty seven", "two thousand", "two thousand five", "twenty ten",
        "twenty twenty one"]


# ------------------------------------------------------------------------------------------------------ speakers


def test_list_speakers_distinct_and_deterministic() -> None:
    speakers = list_speakers(40, seed=0)
    assert len({s["name"] for s in speakers}) == 40
    assert speakers == list_speakers(40, seed=0)
    assert speakers != list_speakers(40, seed=1)
    assert list_speakers(8, seed=0) == speakers[:8]
    first = speakers[:8]
    assert set(first[0]) == {"name", "voice", "variant", "rate", "pitch", "pitch_range"}
    assert len({s["voice"] for s in first}) >= 6 and len({s["variant"] for s in first}) == 8
    assert {s["variant"][0] for s in first} == {"m", "f"}
    assert len({s["rate"] for s in speakers}) > 5 and len({s["pitch"] for s in speakers}) > 5
    with pytest.raises(ValueError, match="n >= 1"):
        list_speakers(0)


# ----------------------------------------------------------------------------------------------------- synthesis


def test_synthesis_is_plausible_and_deterministic() -> None:
    synth = EspeakSynth("en-us", "m3", rate=170)
    assert synth.sample_rate == 22050
    audio = synth.synthesize(TEXT)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert np.abs(audio).max() <= 1.0 and np.abs(audio).max() > 0.1
    assert np.sqrt(np.mean(audio**2)) > 0.01
    seconds = audio.size / synth.sample_rate
    assert 2.0 < seconds < 7.0  # 12 words at 170 wpm
    loud = np.flatnonzero(np.abs(audio) > 0.01 * np.abs(audio).max())
    assert loud[0] <= 0.11 * synth.sample_rate and audio.size - loud[-1] <= 0.11 * synth.sample_rate
    # espeak's hidden state (clock-seeded noise, pitch-flutter phase) must not leak between utterances
    EspeakSynth("en-gb-x-rp", "f2").synthesize("Something else entirely, to move its state on.")
    assert np.array_equal(synth.synthesize(TEXT), audio)


def test_breath_noise_does_not_depend_on_the_clock() -> None:
    synth = EspeakSynth("en-us", "f5")  # a variant with breath noise, which espeak seeds from time() by default
    audio = synth.synthesize("Hello there.")
    time.sleep(1.1)
    assert np.array_equal(synth.synthesize("Hello there."), audio)


def test_voices_sound_different() -> None:
    slow = EspeakSynth("en-us", "m1", rate=140).synthesize(TEXT)
    fast = EspeakSynth("en-us", "m1", rate=220).synthesize(TEXT)
    assert slow.size > 1.3 * fast.size
    female = EspeakSynth("en-gb-x-rp", "f3", pitch=60).synthesize(TEXT)
    assert not np.array_equal(female[:1000], slow[:1000])


def test_synthesis_errors() -> None:
    with pytest.raises(ValueError, match="no voice 'xx-nowhere'"):
        EspeakSynth("xx-nowhere")
    with pytest.raises(ValueError, match="no voice variant 'q9'"):
        EspeakSynth("en-us", "q9")
    with pytest.raises(ValueError, match="rate"):
        EspeakSynth(rate=5)
    with pytest.raises(ValueError, match="empty text"):
        EspeakSynth().synthesize("  ")


def test_trim_silence_keeps_a_margin() -> None:
    sr = 1000
    tone = np.sin(np.arange(500) * 0.3).astype(np.float32)
    padded = np.concatenate([np.zeros(2000, np.float32), tone, np.zeros(3000, np.float32)])
    trimmed = trim_silence(padded, sr, keep=0.1)
    assert abs(trimmed.size - (500 + 200)) <= 2
    assert trim_silence(np.zeros(10, np.float32), sr).size == 10


def test_coexists_with_phonemizer() -> None:
    import espeakng_loader
    from phonemizer.backend import EspeakBackend
    from phonemizer.backend.espeak.wrapper import EspeakWrapper

    EspeakWrapper.set_library(espeakng_loader.get_library_path())
    EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
    synth = EspeakSynth("en-us", "f2")
    before = synth.synthesize(TEXT)
    backend = EspeakBackend("en-us")
    phones = backend.phonemize(["hello world", TEXT])
    assert phones[0].replace(" ", "").startswith("həl")
    after = synth.synthesize(TEXT)
    assert np.array_equal(before, after)
    assert backend.phonemize(["hello world", TEXT]) == phones


# -------------------------------------------------------------------------------------------------------- corpus


def _read_rows(corpus: Path) -> list[list[str]]:
    return [line.split("|") for line in (corpus / "metadata.csv").read_text(encoding="utf-8").splitlines()]


def test_tiny_corpus_is_valid_deterministic_and_idempotent(tmp_path: Path) -> None:
    first = write_demo_corpus(tmp_path / "a", num_speakers=2, utts_per_speaker=3, seed=5)
    assert first == tmp_path / "a"
    rows = _read_rows(first)
    assert len(rows) == 6 and all(len(row) == 3 for row in rows)
    speakers = [s["name"] for s in list_speakers(2, seed=5)]
    assert [row[2] for row in rows] == [speakers[0]] * 3 + [speakers[1]] * 3
    assert [row[1] for row in rows] == generate_sentences(6, seed=5)
    for path, _, speaker in rows:
        assert re.fullmatch(rf"wavs/{re.escape(speaker)}_\d{{4}}\.flac", path)
        info = sf.info(first / path)
        assert (info.samplerate, info.channels, info.format, info.subtype) == (24000, 1, "FLAC", "PCM_16")
        audio, _ = sf.read(first / path, dtype="float32")
        assert 0.8 < info.duration < 10.0 and np.abs(audio).max() > 0.05

    second = write_demo_corpus(tmp_path / "b", num_speakers=2, utts_per_speaker=3, seed=5)
    assert (second / "metadata.csv").read_bytes() == (first / "metadata.csv").read_bytes()
    for path, _, _ in rows:
        assert (second / path).read_bytes() == (first / path).read_bytes()

    stamps = {p: p.stat().st_mtime_ns for p in first.rglob("*") if p.is_file()}
    start = time.perf_counter()
    assert write_demo_corpus(first, num_speakers=2, utts_per_speaker=3, seed=5) == first
    assert time.perf_counter() - start < 0.5
    assert {p: p.stat().st_mtime_ns for p in first.rglob("*") if p.is_file()} == stamps

    # the second speaker alone: the very clips and rows it has in the whole corpus, nothing of the first
    tail = write_demo_corpus(tmp_path / "c", num_speakers=2, utts_per_speaker=3, seed=5, first_speaker=1)
    assert _read_rows(tail) == rows[3:]
    for path, _, _ in rows[3:]:
        assert (tail / path).read_bytes() == (first / path).read_bytes()
    assert not any((tail / path).exists() for path, _, _ in rows[:3])
    with pytest.raises(ValueError, match="first_speaker"):
        write_demo_corpus(tmp_path / "d", num_speakers=2, utts_per_speaker=3, seed=5, first_speaker=2)

    write_demo_corpus(first, num_speakers=2, utts_per_speaker=2, seed=5)  # other parameters: rewritten
    rows = _read_rows(first)
    assert len(rows) == 4
    assert sorted(p.name for p in (first / "wavs").iterdir()) == sorted(Path(row[0]).name for row in rows)
