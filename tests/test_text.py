"""Text frontend: vocabulary, NeMo normalisation, espeak/CMUdict G2P, hard inputs, batch == single."""
from __future__ import annotations

import ctypes
import multiprocessing
import pickle
import random
from pathlib import Path

import pytest

from scraps.text import PhonemeVocab, TextError, TextFrontend
from scraps.text.normalize import canonicalize, clean_for_g2p, default_cache_dir, needs_normalization
from scraps.text.vocab import ESPEAK_PHONES, PROSODY_MARKS, PUNCTUATION

VARIED = [
    "Hello, world! How are you today?",
    "The quick brown fox jumps over the lazy dog.",
    "She sells seashells by the seashore; the shells she sells are surely seashells.",
    "Pronunciation of either, neither, and whether is contested.",
    "I can't, won't, and shouldn't've done it -- they'd've known.",
    "Colonel Mustard's yacht sailed through the fjord near Reykjavik.",
    "Thought, through, though, tough, and thorough all differ.",
    "A naïve café owner served crème brûlée to the fiancée.",
    "Wednesday's February schedule was rather unusual, wasn't it?",
    "Worcestershire sauce, quinoa, and gnocchi are hard to pronounce.",
    "The mischievous squirrel ate an enormous acorn.",
    "Rural juror, sixth sick sheik's sixth sheep's sick.",
    "Zebras, xylophones, and quizzical jaguars vexed the judge.",
    "Oh! Really? Yes: absolutely; no doubt - none.",
    "The choir's rhythm was synchronised with the orchestra's tempo.",
    "Isn't it ironic that the psychologist's psyche was pneumatic?",
    "Genre, rendezvous, and bourgeois came from French.",
    "Schadenfreude and zeitgeist are German loanwords.",
    "Luxurious leisure at the museum's anniversary gala.",
    "Hmm, uh, well... I suppose so.",
    "O'Brien and McDonald's new boat, the Aoife, docked at Galway.",
    "Tchaikovsky, Dvořák and Saint-Saëns wrote symphonies.",
    "The vehicle's axle was squeaking awkwardly.",
    "Measure the treasure's azure beige vision.",
    "Jump, judge, church, and chess all start with affricates.",
]


@pytest.fixture(scope="module")
def frontend() -> TextFrontend:
    """espeak + NeMo; the normaliser is built at most once for this module (module-level cache)."""
    return TextFrontend()


@pytest.fixture(scope="module")
def raw() -> TextFrontend:
    return TextFrontend(normalize=False)


@pytest.fixture(scope="module")
def cmu() -> TextFrontend:
    return TextFrontend(g2p="cmudict", normalize=False)


# ----------------------------------------------------------------------------------------------- vocabulary


@pytest.mark.parametrize("backend", ["espeak", "cmudict"])
def test_default_vocab_is_stable_with_fixed_specials(backend: str) -> None:
    a, b = PhonemeVocab.default(backend), PhonemeVocab.default(backend)
    assert a.symbols == b.symbols and len(a) == len(set(a.symbols))
    assert a.symbols[:5] == ["<pad>", "<bos>", "<eos>", "<unk>", "|"]
    assert (a.pad_id, a.bos_id, a.eos_id, a.unk_id, a.wb_id) == (0, 1, 2, 3, 4)
    assert (a.PAD, a.BOS, a.EOS, a.UNK, a.WB) == ("<pad>", "<bos>", "<eos>", "<unk>", "|")
    assert set(PUNCTUATION) == set(",.?!;:-") <= set(a.symbols)
    phones = [a.symbols[i] for i in a.phoneme_ids()]
    assert not set(phones) & (set(PUNCTUATION) | set(PROSODY_MARKS) | set(a.symbols[:5]))


def test_vocab_inventories() -> None:
    espeak = PhonemeVocab.default("espeak")
    assert list(ESPEAK_PHONES) == sorted(ESPEAK_PHONES)
    assert {"ˈ", "ˌ", "ː"} <= set(espeak.symbols) and "ˈ" not in [espeak.symbols[i] for i in espeak.phoneme_ids()]
    assert {"ə", "ɚ", "ɹ", "oʊ", "ɒ", "əʊ", "tʃ", "dʒ", "ŋ", "θ", "ð"} <= set(espeak.symbols)  # en-us and en-gb
    cmu = PhonemeVocab.default("cmudict")
    phones = [cmu.symbols[i] for i in cmu.phoneme_ids()]
    assert len(phones) == 24 + 15 * 3 and {"AH0", "AH1", "AH2", "NG", "ZH"} <= set(phones) and "AH" not in phones
    with pytest.raises(ValueError, match="unknown G2P backend"):
        PhonemeVocab.default("festival")


def test_vocab_json_round_trip(tmp_path: Path) -> None:
    vocab = PhonemeVocab.default("espeak")
    assert PhonemeVocab.from_json(vocab.to_json()) == vocab
    vocab.save(tmp_path / "phonemes.json")
    loaded = PhonemeVocab.load(tmp_path / "phonemes.json")
    assert loaded.symbols == vocab.symbols and loaded.phoneme_ids() == vocab.phoneme_ids()
    with pytest.raises(ValueError, match="must start with"):
        PhonemeVocab(["a", "b"])
    with pytest.raises(ValueError, match="not a phoneme vocabulary"):
        PhonemeVocab.from_json('{"tokens": []}')
    with pytest.raises(FileNotFoundError, match="missing.json"):
        PhonemeVocab.load(tmp_path / "missing.json")


def test_vocab_encode_decode() -> None:
    vocab = PhonemeVocab.default("espeak")
    phones = ["h", "ə", "l", "ˈ", "oʊ", ",", "|", "w", "ˈ", "ɜ", "ː", "l", "d", "!"]
    ids = vocab.encode(phones)
    assert ids[0] == vocab.bos_id and ids[-1] == vocab.eos_id and len(ids) == len(phones) + 2
    assert vocab.encode(phones, add_bos_eos=False) == ids[1:-1]
    assert vocab.decode(ids) == phones
    assert vocab.decode([vocab.pad_id, *ids, vocab.pad_id]) == phones
    assert vocab.encode(["h", "NOT-A-PHONE"], add_bos_eos=False) == [vocab.symbols.index("h"), vocab.unk_id]
    assert vocab.decode([vocab.unk_id]) == ["<unk>"]


# --------------------------------------------------------------------------------------------- normalisation


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SCRAPS_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "nemo"
    monkeypatch.delenv("SCRAPS_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "scraps-tts" / "nemo"


def test_needs_normalization_gate() -> None:
    assert needs_normalization("It costs $5.") and needs_normalization("Dr. Smith") and needs_normalization("the U.S.")
    assert not needs_normalization("Just plain words, nothing else.")


def test_normalize_numbers_currency_dates_times_abbreviations(frontend: TextFrontend) -> None:
    out = frontend.normalize("Dr. Smith paid $3.50 on Jan. 5, 2021 at 3:30 pm.").lower()
    for words in ["doctor smith", "three dollars", "fifty cents", "january fifth", "twenty twenty one", "three thirty"]:
        assert words in out, (words, out)
    assert not any(ch.isdigit() for ch in out)
    out = frontend.normalize("Mr. Jones bought 12 apples for 20% off on March 3rd.").lower()
    for words in ["mister jones", "twelve apples", "twenty percent", "march third"]:
        assert words in out, (words, out)
    assert frontend.normalize("No digits here, just words") == "No digits here, just words"


def test_phonemize_uses_normalisation(frontend: TextFrontend, raw: TextFrontend) -> None:
    assert frontend.phonemize("I paid $3.") == raw.phonemize("I paid three dollars.")


# ------------------------------------------------------------------------------------------------------ G2P


def test_espeak_token_layout(raw: TextFrontend) -> None:
    tokens = raw.phonemize("Hello, world! What?!")
    hello, world, what = ["h", "ə", "l", "ˈ", "oʊ"], ["w", "ˈ", "ɜ", "ː", "l", "d"], ["w", "ˌ", "ʌ", "t"]
    assert tokens == [*hello, ",", "|", *world, "!", "|", *what, "?"]
    assert raw.encode("Hello, world! What?!") == raw.vocab.encode(tokens)


def test_espeak_language_variants() -> None:
    us = TextFrontend(language="en-us", normalize=False).phonemize("hot")
    gb = TextFrontend(language="en-gb", normalize=False).phonemize("hot")
    assert "ɑ" in us and "ɒ" in gb


def test_espeak_unaffected_by_other_ctypes_user(raw: TextFrontend) -> None:
    """A synthesiser loading the same libespeak-ng and switching its voice must not change our phonemes."""
    import espeakng_loader

    before = raw.phonemize("hot water")
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    assert lib.espeak_Initialize(0x02, 0, espeakng_loader.get_data_path().encode(), 0) > 0
    assert lib.espeak_SetVoiceByName(b"en") == 0  # British English
    assert raw.phonemize("hot water") == before


def test_hard_text(raw: TextFrontend) -> None:
    cafe = raw.phonemize("café naïve")
    assert raw.vocab.unk_id not in raw.vocab.encode(cafe) and cafe.count("|") == 1 and "eɪ" in cafe
    assert raw.phonemize("I love 🙂 pizza 🍕!") == raw.phonemize("I love pizza!")
    assert raw.phonemize("hello\x07 world\u200b") == raw.phonemize("hello world")
    assert raw.phonemize("Hello 你好 world") == raw.phonemize("Hello world")
    assert raw.phonemize("“Quoted” (aside) — dash…") == raw.phonemize("Quoted, aside, dash.")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   \n\t", "empty"),
        ("\x00\x01\x1b", "only control characters"),
        ("!!! ... ?", "only punctuation"),
        ("🙂🙂", "only emoji/symbols"),
        ("你好，世界", "CJK"),
        ("مرحبا بالعالم", "ARABIC"),
    ],
)
def test_nothing_to_pronounce_raises(raw: TextFrontend, text: str, reason: str) -> None:
    with pytest.raises(TextError, match="nothing to pronounce") as err:
        raw.phonemize(text)
    assert reason in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, ValueError)


def test_batch_error_names_the_item(raw: TextFrontend) -> None:
    assert raw.phonemize_batch([]) == []
    with pytest.raises(TextError, match="batch item 1"):
        raw.phonemize_batch(["fine", "🙂"])


def test_long_paragraph(frontend: TextFrontend) -> None:
    paragraph = "On May 5, 2021 it cost $12. " + " ".join(VARIED * 6)
    assert len(paragraph) > 5000
    tokens = frontend.phonemize(paragraph)
    assert tokens.count("|") > 800 and frontend.vocab.unk_id not in frontend.vocab.encode(tokens)


@pytest.mark.parametrize("language", ["en-us", "en-gb"])
def test_no_unk_on_varied_sentences(language: str) -> None:
    fe = TextFrontend(language=language, normalize=False)
    for text, tokens in zip(VARIED, fe.phonemize_batch(VARIED)):
        assert fe.vocab.unk_id not in fe.vocab.encode(tokens), (text, tokens)


@pytest.mark.parametrize("language", ["en-us", "en-gb"])
def test_no_unk_on_ljspeech_sentences(ljspeech_subset: Path, language: str) -> None:
    path = ljspeech_subset / "metadata_full_13100.csv"
    if not path.is_file():
        pytest.skip(f"LJ Speech transcript list not found at {path}")
    lines = [row.split("|")[1] for row in path.read_text(encoding="utf-8").splitlines()]
    sample = random.Random(0).sample(lines, 400)
    fe = TextFrontend(language=language, normalize=False)
    for text, tokens in zip(sample, fe.phonemize_batch(sample)):
        assert fe.vocab.unk_id not in fe.vocab.encode(tokens), (text, tokens)


def test_cmudict_backend(cmu: TextFrontend) -> None:
    assert cmu.vocab == PhonemeVocab.default("cmudict")
    assert cmu.phonemize("Hello, world!") == ["HH", "AH0", "L", "OW1", ",", "|", "W", "ER1", "L", "D", "!"]
    assert cmu.phonemize("café") == ["K", "AH0", "F", "EY1"]
    assert cmu.phonemize("I have 3.") == ["AY1", "|", "HH", "AE1", "V", "|", "TH", "R", "IY1", "."]
    ids = cmu.encode(" ".join(VARIED))
    assert cmu.vocab.unk_id not in ids


def test_cmudict_oov_spells_letters(cmu: TextFrontend) -> None:
    # "xqz" is not in CMUdict: spelled with the letters' own entries, as one word.
    assert cmu.phonemize("xqz") == ["EH1", "K", "S", "K", "Y", "UW1", "Z", "IY1"]
    # A letter takes its stressed name: "a" -> EY1 (not the article AH0).
    assert cmu.phonemize("the zzzqa") == ["DH", "AH0", "|"] + ["Z", "IY1"] * 3 + ["K", "Y", "UW1", "EY1"]
    assert cmu.phonemize("qqq 42") == ["K", "Y", "UW1"] * 3 + ["|", "F", "AO1", "R", "|", "T", "UW1"]


@pytest.mark.parametrize("g2p", ["espeak", "cmudict"])
def test_batch_equals_single(g2p: str) -> None:
    fe = TextFrontend(g2p=g2p, normalize=False)
    texts = VARIED + ["Ends with a comma,", "- leading dash", "3.14 and 1,000 items", "Hi... there?!"]
    assert fe.phonemize_batch(texts) == [fe.phonemize(t) for t in texts]


def test_analyze_batch_gives_each_texts_normalized_form_and_phonemes(frontend: TextFrontend) -> None:
    texts = ["It costs $3.50 at 7:45 p.m.", "No digits here.", "In 1999, Dr. Smith sold 12 boats!"]
    assert frontend.analyze_batch(texts) == [(frontend.normalize(t), frontend.phonemize(t)) for t in texts]
    with pytest.raises(TextError, match="batch item 1"):
        frontend.analyze_batch(["fine", "🙂"])


# -------------------------------------------------------------------------------------- text clean-up helpers


def test_canonicalize_and_clean() -> None:
    assert canonicalize("  ﬁne\u00a0dog\x00\r\n cat ") == "fine dog cat"
    assert clean_for_g2p("well-known U.S.A. x--y O’Brien’s 'quoted' €") == "well known USA. x - y O'Brien's quoted"


# ------------------------------------------------------------------------------------------ config / pickling


def test_config_round_trip_and_validation() -> None:
    fe = TextFrontend(g2p="cmudict", language="en-us", normalize=False)
    cfg = fe.config()
    assert cfg == {"g2p": "cmudict", "language": "en-us", "normalize": False}
    again = TextFrontend.from_config(cfg)
    assert again.config() == cfg and again.vocab == fe.vocab
    with pytest.raises(ValueError, match="missing keys"):
        TextFrontend.from_config({"g2p": "espeak"})
    with pytest.raises(ValueError, match="unknown G2P backend"):
        TextFrontend(g2p="festival")
    with pytest.raises(ValueError, match="not supported"):
        TextFrontend(language="fr-fr")
    with pytest.raises(ValueError, match="American English only"):
        TextFrontend(g2p="cmudict", language="en-gb")


def test_frontend_pickles_small_after_use(raw: TextFrontend) -> None:
    expected = raw.phonemize("Pickled for a DataLoader worker.")
    blob = pickle.dumps(raw)
    assert len(blob) < 10_000
    assert pickle.loads(blob).phonemize("Pickled for a DataLoader worker.") == expected


def _phonemize_in_worker(args: tuple[TextFrontend, str]) -> list[str]:
    frontend, text = args
    return frontend.phonemize(text)


def test_frontend_works_in_forked_worker(raw: TextFrontend) -> None:
    """A worker forked after the parent built its espeak backend builds and uses its own."""
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("fork start method not available on this platform")
    texts = ["Hello there, worker.", "Another sentence to say."]
    expected = raw.phonemize_batch(texts)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(_phonemize_in_worker, [(raw, t) for t in texts]) == expected
