"""Phoneme vocabulary: a fixed, ordered symbol inventory per G2P backend (symbol <-> id)."""
from __future__ import annotations

import json
from pathlib import Path

SPECIALS: tuple[str, ...] = ("<pad>", "<bos>", "<eos>", "<unk>", "|")
PUNCTUATION: tuple[str, ...] = ("!", ",", "-", ".", ":", ";", "?")
PROSODY_MARKS: tuple[str, ...] = ("ˈ", "ˌ", "ː")  # primary stress, secondary stress, length

# Every phone espeak-ng 1.52 emits for the English voices en-us, en-gb, en-gb-x-rp, en-us-nyc, en-029,
# en-gb-x-gbclan and en-gb-x-gbcwmd (collected over the 13,100 LJ Speech sentences, the CMUdict word list,
# numbers, acronyms and Latin letters), with stress and length marks split off. Sorted by code point.
ESPEAK_PHONES: tuple[str, ...] = (
    "a", "aa", "aɪ", "aɪə", "aɪɚ", "aʊ", "b", "d", "dʒ", "e", "ei", "eə", "eɪ", "f", "h", "i", "iə", "j", "k",
    "l", "m", "n", "nʲ", "n̩", "o", "oə", "oɪ", "oʊ", "p", "r", "s", "t", "tʃ", "t̪", "u", "v", "w", "x", "z",
    "æ", "ææ", "æʊ", "ð", "ŋ", "ɐ", "ɑ", "ɑə", "ɑ̃", "ɒ", "ɔ", "ɔə", "ɔɪ", "ɔ̃", "ə", "əl", "əu", "əɪ", "əʊ",
    "ɚ", "ɛ", "ɛə", "ɛɹ", "ɜ", "ɡ", "ɡʲ", "ɪ", "ɪɹ", "ɬ", "ɲ", "ɹ", "ɾ", "ʃ", "ʊ", "ʊə", "ʊɹ", "ʌ", "ʌʊ",
    "ʒ", "ʔ", "θ", "ᵻ",
)  # fmt: skip

ARPABET_CONSONANTS: tuple[str, ...] = (
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T", "TH", "V",
    "W", "Y", "Z", "ZH",
)  # fmt: skip
ARPABET_VOWELS: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW",
)  # fmt: skip
# The 39 ARPAbet phones of CMUdict; vowels carry their stress digit (0 none, 1 primary, 2 secondary).
CMUDICT_PHONES: tuple[str, ...] = tuple(
    sorted(ARPABET_CONSONANTS + tuple(v + s for v in ARPABET_VOWELS for s in "012"))
)

_INVENTORIES: dict[str, tuple[str, ...]] = {
    "espeak": SPECIALS + PUNCTUATION + PROSODY_MARKS + ESPEAK_PHONES,
    "cmudict": SPECIALS + PUNCTUATION + CMUDICT_PHONES,
}


class PhonemeVocab:
    """Maps phoneme symbols to integer ids and back.

    Ids 0..4 are always ``<pad> <bos> <eos> <unk> |``; unknown symbols encode to ``<unk>``.
    """

    PAD, BOS, EOS, UNK, WB = SPECIALS

    def __init__(self, symbols: list[str]) -> None:
        if tuple(symbols[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(
                f"phoneme vocabulary must start with {list(SPECIALS)}, got {symbols[:len(SPECIALS)]}; "
                "build it with PhonemeVocab.default() or load a saved vocabulary"
            )
        if len(set(symbols)) != len(symbols):
            dupes = sorted({s for s in symbols if symbols.count(s) > 1})
            raise ValueError(f"phoneme vocabulary has duplicate symbols {dupes}; each symbol must appear once")
        self.symbols: list[str] = list(symbols)
        self._ids: dict[str, int] = {s: i for i, s in enumerate(self.symbols)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id, self.wb_id = range(len(SPECIALS))

    @classmethod
    def default(cls, backend: str = "espeak") -> PhonemeVocab:
        """The built-in inventory of ``backend`` ("espeak" or "cmudict"), identical on every machine."""
        if backend not in _INVENTORIES:
            raise ValueError(
                f"unknown G2P backend {backend!r} for PhonemeVocab.default; use one of {sorted(_INVENTORIES)}"
            )
        return cls(list(_INVENTORIES[backend]))

    def __len__(self) -> int:
        return len(self.symbols)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PhonemeVocab) and self.symbols == other.symbols

    def __repr__(self) -> str:
        return f"PhonemeVocab({len(self)} symbols)"

    def encode(self, phonemes: list[str], add_bos_eos: bool = True) -> list[int]:
        """Symbols -> ids (unknown symbols -> ``unk_id``), framed by bos/eos when ``add_bos_eos``."""
        ids = [self._ids.get(p, self.unk_id) for p in phonemes]
        return [self.bos_id, *ids, self.eos_id] if add_bos_eos else ids

    def decode(self, ids: list[int]) -> list[str]:
        """Ids -> symbols, dropping pad/bos/eos."""
        dropped = (self.pad_id, self.bos_id, self.eos_id)
        return [self.symbols[i] for i in ids if i not in dropped]

    def phoneme_ids(self) -> list[int]:
        """Ids of real phones: not specials, word boundary, punctuation or stress/length marks."""
        not_phones = set(SPECIALS) | set(PUNCTUATION) | set(PROSODY_MARKS)
        return [i for i, s in enumerate(self.symbols) if s not in not_phones]

    def to_json(self) -> str:
        """The vocabulary as JSON: ``{"symbols": [...]}`` in id order."""
        return json.dumps({"symbols": self.symbols}, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, s: str) -> PhonemeVocab:
        """Inverse of ``to_json``."""
        try:
            symbols = json.loads(s)["symbols"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"not a phoneme vocabulary JSON ({e}); expected an object with a 'symbols' list") from None
        return cls(symbols)

    def save(self, path: str | Path) -> None:
        """Write ``to_json()`` to ``path`` (e.g. ``phonemes.json`` in a model directory)."""
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> PhonemeVocab:
        """Read a vocabulary written by ``save``."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"phoneme vocabulary not found at {path}; save one with PhonemeVocab.save()")
        try:
            return cls.from_json(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
