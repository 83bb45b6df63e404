"""Text frontend: normalisation -> G2P -> phoneme ids (see ``TextFrontend``)."""
from scraps.text.frontend import TextFrontend
from scraps.text.normalize import TextError
from scraps.text.vocab import PhonemeVocab

__all__ = ["PhonemeVocab", "TextError", "TextFrontend"]
