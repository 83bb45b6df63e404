"""Text -> text: canonical Unicode, written-to-spoken normalisation (NeMo), and clean-up for G2P.

The order the frontend applies them: ``canonicalize`` -> ``check_pronounceable`` -> ``normalize_text`` ->
``clean_for_g2p``.
"""
from __future__ import annotations

import logging
import os
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nemo_text_processing.text_normalization.normalize import Normalizer


class TextError(ValueError):
    """The text cannot be turned into speech (e.g. nothing pronounceable in it)."""


# Letters espeak/en and CMUdict can read: Latin script (ASCII, Latin-1, Extended-A/B, Extended Additional).
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
_PRONOUNCEABLE = re.compile(f"[{_LATIN}0-9]")
_WHITESPACE = re.compile(r"\s+")

# What NeMo is run for: digits, symbols it verbalises, known abbreviations and dotted acronyms. Sentences
# without any of these pass through untouched, which keeps batch phonemisation fast (NeMo costs 0.1-0.4 s a
# sentence on CPU).
_NEEDS_NEMO = re.compile(
    r"[0-9$€£¥¢₹%&@#+=/\\*^~<>°§×÷±]"
    r"|\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Rev|Gen|Col|Capt|Lt|Sgt|Mt|Ft|vs|etc|No|Co|Inc|Ltd|Corp|Ave|Blvd|Rd"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\."
    r"|\b(?:[A-Za-z]\.){2,}"
)

_NORMALIZERS: dict[str, Normalizer] = {}  # one NeMo normaliser per language (forked workers reuse it)


def canonicalize(text: str) -> str:
    """NFKC-normalise, drop control/format characters, and collapse whitespace to single spaces."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isprintable():  # fast path: printable text has no control/format characters and no odd spaces
        text = "".join(" " if c.isspace() else c for c in text if c.isspace() or unicodedata.category(c)[0] != "C")
    return _WHITESPACE.sub(" ", text).strip()


def check_pronounceable(text: str, original: str | None = None) -> None:
    """Raise ``TextError`` naming the problem unless ``text`` holds a Latin-script letter or a digit.

    ``original`` is the user's text before ``canonicalize``, quoted in the message (defaults to ``text``).
    """
    if _PRONOUNCEABLE.search(text):
        return
    original = text if original is None else original
    categories = {unicodedata.category(ch)[0] for ch in text if not ch.isspace()}
    if not text:
        reason = "only control characters" if original.strip() else "empty"
    elif "L" in categories:
        script = next(unicodedata.name(ch, "?").split()[0] for ch in text if unicodedata.category(ch)[0] == "L")
        reason = f"no Latin-script letters, found {script} script"
    elif categories == {"P"}:
        reason = "only punctuation"
    else:
        reason = "only emoji/symbols"
    snippet = original if len(original) <= 60 else original[:57] + "..."
    raise TextError(f"text has nothing to pronounce: {snippet!r} ({reason}); give words in English")


def needs_normalization(text: str) -> bool:
    """True when ``text`` holds digits, symbols, abbreviations or dotted acronyms that NeMo should expand."""
    return _NEEDS_NEMO.search(text) is not None


def default_cache_dir() -> Path:
    """``$SCRAPS_CACHE_DIR/nemo``, else ``~/.cache/scraps-tts/nemo``."""
    root = os.environ.get("SCRAPS_CACHE_DIR")
    return Path(root) / "nemo" if root else Path.home() / ".cache" / "scraps-tts" / "nemo"


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


def get_normalizer(lang: str = "en", cache_dir: str | Path | None = None) -> Normalizer:
    """The process-wide NeMo normaliser for ``lang``, built on first use (grammars cached in ``cache_dir``).

    The first build compiles the grammars (~25-75 s on CPU) and stores them in ``cache_dir``; later
    processes load them in about 2 s.
    """
    if lang not in _NORMALIZERS:
        # NeMo logs every cache file and punctuation decision at INFO and resets its level on each call.
        logging.getLogger("NeMo-text-processing").addFilter(_BelowWarning())
        from nemo_text_processing.text_normalization.normalize import Normalizer

        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OSError(f"cannot create the normaliser cache dir {cache} ({e}); set SCRAPS_CACHE_DIR") from None
        _NORMALIZERS[lang] = Normalizer(input_case="cased", lang=lang, cache_dir=str(cache))
    return _NORMALIZERS[lang]


def normalize_text(text: str, lang: str = "en", cache_dir: str | Path | None = None) -> str:
    """Written -> spoken form ("$3.50" -> "three dollars fifty cents"), sentence by sentence.

    Only sentences for which ``needs_normalization`` is true go through NeMo; text without digits, symbols or
    abbreviations is returned unchanged without building the normaliser.
    """
    if not needs_normalization(text):
        return text
    normalizer = get_normalizer(lang, cache_dir)
    sentences = normalizer.split_text_into_sentences(text, additional_split_symbols=";|:|,| ")
    return " ".join(normalizer.normalize(s) if needs_normalization(s) else s for s in sentences)


# Punctuation kept as tokens: , . ? ! ; : -   Everything else is mapped onto these or removed.
_PUNCT_MAP = str.maketrans(
    {
        "’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'",
        "…": ".", "¡": " ", "¿": " ",
        "—": " - ", "–": " - ", "―": " - ", "‒": " - ",
        "(": ", ", ")": ", ", "[": ", ", "]": ", ", "{": ", ", "}": ", ",
    }
)  # fmt: skip
_DOUBLE_HYPHEN = re.compile(r"-{2,}")
_INNER_HYPHEN = re.compile(rf"(?<=[{_LATIN}0-9])-(?=[{_LATIN}0-9])")
_ACRONYM_DOT = re.compile(rf"\b([{_LATIN}])\.(?=[{_LATIN}]\.)")
_LOOSE_APOSTROPHE = re.compile(rf"(?<![{_LATIN}])'|'(?![{_LATIN}])")
_UNREADABLE = re.compile(rf"[^{_LATIN}0-9',.?!;:\- ]")


def clean_for_g2p(text: str) -> str:
    """Reduce text to what G2P reads: Latin letters, digits, in-word apostrophes and the punctuation ``,.?!;:-``.

    Typographic punctuation is mapped (dashes -> "-", brackets -> ",", "…" -> "."), hyphens inside words become
    spaces, dots inside acronyms ("U.S.A." -> "USA.") are dropped, and anything else (emoji, symbols, other
    scripts) becomes a space.
    """
    text = _DOUBLE_HYPHEN.sub(" - ", text.translate(_PUNCT_MAP))
    text = _INNER_HYPHEN.sub(" ", text)
    text = _ACRONYM_DOT.sub(r"\1", text)
    text = _UNREADABLE.sub(" ", text)
    text = _LOOSE_APOSTROPHE.sub(" ", text)
    return _WHITESPACE.sub(" ", text).strip()
