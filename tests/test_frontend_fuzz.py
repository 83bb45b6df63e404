"""Property-based tests of the text frontend: whatever unicode a user pastes (control characters, very long
strings, mixed scripts, lone surrogates, emoji), ``phonemize`` and ``encode`` return vocabulary symbols or raise
``TextError`` with one line, within a deadline per example; never another exception, never a hang.
"""
from __future__ import annotations

import faulthandler

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scraps.text import TextError, TextFrontend

# Each example must finish within DEADLINE_MS (texts of a few thousand characters take ~0.1 s; the margin is for
# a shared, loaded CPU). A hang inside C code (espeak, OpenFst) would never reach that check, so a watchdog ends
# the whole process with every thread's traceback if one test runs past HANG_S.
DEADLINE_MS = 5000
HANG_S = 240

ANY_CHAR = st.characters(codec=None, categories=None)  # every code point, surrogates and controls included
NASTY = st.sampled_from(
    list("aZé߿ЖжΩשׁمن中文字한ー゙ภา०१٣")
    + ["\u0301", "\u200d", "\u200b", "\u202e", "\u2066", "\ufeff", "\x00",
    "\x1b", "\x7f", "\r", "\n", "\t", "\u2028", "\ud800", "\udfff", "\U0001f600", "\U0001f1fa\U0001f1f8",
    "\ufdfa", "\ufb03", "…", "—", "'", "-", ".", ",", "?", "!", ";", ":", "(", ")", "\"", " ", "  ", "0", "9",
    "½", "²", "Ⅻ", "℃", "$", "%", "&", "#", "@", "/", "\\", "<", ">", "A.", "U.S.A.", "Mr.", "Dr", "1,000",
    "3.14", "12:30", "e.g.", "--", "...", "''", "a-b", "don't"]
)
TEXTS = st.one_of(
    st.text(ANY_CHAR, max_size=300),
    st.lists(NASTY, max_size=200).map("".join),
    st.lists(st.one_of(NASTY, st.text(ANY_CHAR, max_size=8)), max_size=60).map(" ".join),
)
LONG = ["hello world " * 5000, "a" * 60_000, "word, " * 8000, "1" * 3000, "Ж" * 50_000 + " ok",
        "\u0301" * 20_000 + "a", "-a" * 10_000, "\x00" * 10_000]


@pytest.fixture(scope="module")
def raw() -> TextFrontend:
    frontend = TextFrontend(normalize=False)
    frontend.phonemize("warm up")
    return frontend


@pytest.fixture(autouse=True)
def watchdog():
    faulthandler.dump_traceback_later(HANG_S, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _check(frontend: TextFrontend, text: str) -> None:
    try:
        tokens = frontend.phonemize(text)
    except TextError as exc:
        assert "\n" not in str(exc), str(exc)
        return
    assert tokens and all(isinstance(t, str) and t for t in tokens), tokens[:20]
    ids = frontend.encode(text)
    assert ids[0] == frontend.vocab.bos_id and ids[-1] == frontend.vocab.eos_id and len(ids) == len(tokens) + 2
    assert all(isinstance(i, int) and 0 <= i < len(frontend.vocab) for i in ids)


@settings(max_examples=400, deadline=DEADLINE_MS, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=TEXTS)
@example(text="")
@example(text="\x00\x01\x02")
@example(text="\ud800 lone surrogate")
@example(text="Hello 世界, привет مرحبا שלום 🙂!")
def test_phonemize_and_encode_raise_only_text_error(raw, text):
    _check(raw, text)


@pytest.mark.parametrize("text", LONG, ids=lambda t: f"{len(t)}chars")
def test_very_long_texts_finish(raw, text):
    _check(raw, text)


@pytest.mark.parametrize("text", ["Aaaaaaaaah!", "aaaaaaaaaa"])
def test_repeated_letters_phonemize_to_vocabulary_symbols(raw, text):
    tokens = raw.phonemize(text)
    assert [t for t in tokens if t not in raw.vocab.symbols] == []


@pytest.mark.filterwarnings("ignore:The recursion limit will not be reset")
@settings(max_examples=12, deadline=DEADLINE_MS, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=st.lists(NASTY, min_size=1, max_size=25).map(" ".join))
@example(text="I paid $3.50 on Jan. 5th at 12:30 \x00 \u202e ½ 中文")
def test_normalization_on_raises_only_text_error(text):
    pytest.importorskip("nemo_text_processing")
    _check(_normalizing(), text)


_FRONTEND: list[TextFrontend] = []


def _normalizing() -> TextFrontend:
    """One normalising frontend; its NeMo grammars load from the on-disk cache (built by the first use ever)."""
    if not _FRONTEND:
        frontend = TextFrontend(normalize=True)
        frontend.phonemize("It costs $5.")
        _FRONTEND.append(frontend)
    return _FRONTEND[0]
