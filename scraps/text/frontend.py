"""TextFrontend: raw text -> phoneme tokens -> ids, the one text path shared by SCRAPS and TTS."""
from __future__ import annotations

from pathlib import Path

from scraps.text.g2p import check_phonemes, make_g2p
from scraps.text.normalize import (
    TextError,
    canonicalize,
    check_pronounceable,
    clean_for_g2p,
    normalize_text,
)
from scraps.text.vocab import PhonemeVocab

_CONFIG_KEYS = ("g2p", "language", "normalize")


class TextFrontend:
    """Normalise (NeMo, English), phonemise (espeak-ng IPA or CMUdict ARPAbet), and encode to vocabulary ids.

    Construction is cheap and the object pickles small: the NeMo normaliser, the espeak backend and CMUdict
    are built on first use, once per process (so each DataLoader worker builds its own).

    Steps per text: Unicode NFKC + control characters removed -> ``TextError`` if nothing pronounceable is
    left (empty, punctuation, emoji/symbols, or a non-Latin script only) -> NeMo normalisation of the
    sentences that hold digits, symbols or abbreviations (others pass through unchanged, which keeps batches
    fast) -> emoji, symbols and other scripts dropped, punctuation mapped onto ``, . ? ! ; : -`` -> G2P.
    """

    def __init__(
        self, g2p: str = "espeak", language: str = "en-us", normalize: bool = True, cache_dir: str | None = None
    ) -> None:
        self._g2p = make_g2p(g2p, language)  # validates names; holds no heavy state
        self.g2p = g2p
        self.language = language
        self.normalize_enabled = normalize
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.vocab: PhonemeVocab = PhonemeVocab.default(g2p)

    def __repr__(self) -> str:
        return f"TextFrontend(g2p={self.g2p!r}, language={self.language!r}, normalize={self.normalize_enabled})"

    def normalize(self, text: str) -> str:
        """Written -> spoken English ("$3.50" -> "three dollars fifty cents"), after Unicode canonicalisation."""
        return normalize_text(canonicalize(text), "en", self.cache_dir)

    def _prepare(self, text: str) -> tuple[str, str]:
        """text -> (its normalised form, the string the G2P reads)."""
        canonical = canonicalize(text)
        check_pronounceable(canonical, original=text)
        if self.normalize_enabled:
            canonical = normalize_text(canonical, "en", self.cache_dir)
        return canonical, clean_for_g2p(canonical)

    def phonemize(self, text: str) -> list[str]:
        """Text -> vocabulary symbols: phones, ``|`` between words, punctuation kept as tokens."""
        return check_phonemes(self._g2p([self._prepare(text)[1]])[0], text)

    def phonemize_batch(self, texts: list[str]) -> list[list[str]]:
        """``phonemize`` for many texts with a single G2P backend call (same output as one by one)."""
        return [tokens for _, tokens in self.analyze_batch(texts)]

    def analyze_batch(self, texts: list[str]) -> list[tuple[str, list[str]]]:
        """(normalised text, ``phonemize`` tokens) for each text, normalising each text once (NeMo is the slow
        step of data preparation: tens of ms per sentence that holds digits)."""
        prepared = []
        for i, text in enumerate(texts):
            try:
                prepared.append(self._prepare(text))
            except TextError as e:
                raise TextError(f"batch item {i}: {e}") from None
        out = self._g2p([g2p_input for _, g2p_input in prepared])
        for i, (tokens, text) in enumerate(zip(out, texts)):
            try:
                check_phonemes(tokens, text)
            except TextError as e:
                raise TextError(f"batch item {i}: {e}") from None
        return [(normalized, tokens) for (normalized, _), tokens in zip(prepared, out)]

    def encode(self, text: str) -> list[int]:
        """Text -> ids framed by bos/eos."""
        return self.vocab.encode(self.phonemize(text))

    def config(self) -> dict:
        """The settings that determine the output, to store next to a model."""
        return {"g2p": self.g2p, "language": self.language, "normalize": self.normalize_enabled}

    @classmethod
    def from_config(cls, cfg: dict) -> TextFrontend:
        """Rebuild the frontend saved by ``config()``."""
        missing = [k for k in _CONFIG_KEYS if k not in cfg]
        unknown = sorted(set(cfg) - set(_CONFIG_KEYS))
        if missing or unknown:
            raise ValueError(
                f"text frontend config {dict(cfg)} has missing keys {missing} / unknown keys {unknown}; "
                f"expected exactly {list(_CONFIG_KEYS)} as written by TextFrontend.config()"
            )
        return cls(g2p=str(cfg["g2p"]), language=str(cfg["language"]), normalize=bool(cfg["normalize"]))
