"""Checks and encoding of what a SCRAPS model is given: audio length limits, texts and phoneme strings to ids."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from scraps.audio import SAMPLE_RATE, AudioError, frames_to_samples, num_frames
from scraps.export import ModelDirError
from scraps.text import TextError, TextFrontend

if TYPE_CHECKING:
    from scraps.model import ScrapsModel

MIN_AUDIO_SECONDS = 0.05  # 1200 samples = 5 mel frames; shorter clips hold no phone worth scoring


def check_audio(wav: torch.Tensor, model: ScrapsModel, what: str) -> None:
    """Raise :class:`AudioError` unless ``wav`` (samples,) at 24 kHz is between MIN_AUDIO_SECONDS and the longest
    audio the model's acoustic positions cover. ``what`` names the audio in the message."""
    seconds = wav.shape[-1] / SAMPLE_RATE
    if seconds < MIN_AUDIO_SECONDS:
        raise AudioError(
            f"audio too short: {what} lasts {seconds:.3f} s; SCRAPS scores clips of at least {MIN_AUDIO_SECONDS} s"
        )
    max_frames = model.config.acoustic.max_len * model.config.subsample
    if num_frames(wav.shape[-1]) > max_frames:
        limit = frames_to_samples(max_frames) / SAMPLE_RATE
        raise AudioError(
            f"audio too long: {what} lasts {seconds:.1f} s; this model reads at most {limit:.1f} s, cut it"
        )


def check_ids(ids: list[int], model: ScrapsModel, what: str) -> list[int]:
    """``ids`` unchanged; :class:`TextError` when they are more than the model's phonetic positions cover."""
    if len(ids) > model.config.phonetic.max_len:
        raise TextError(
            f"text too long: {what} gives {len(ids)} phoneme tokens, this model reads at most "
            f"{model.config.phonetic.max_len}; split it"
        )
    return ids


def model_frontend(model: ScrapsModel) -> TextFrontend:
    """The text frontend stored in the model's export (``config.yaml: frontend``)."""
    if not model.frontend_config:
        raise ModelDirError(
            "the model export holds no text frontend settings (config.yaml 'frontend' is empty); score phonemes "
            "instead of text, or re-export it with save_pretrained(frontend_config=TextFrontend.config())"
        )
    try:
        return TextFrontend.from_config(model.frontend_config)
    except ValueError as exc:
        raise ModelDirError(f"the model export's text frontend settings are unusable: {exc}") from None


def encode_text(model: ScrapsModel, frontend: TextFrontend, text: str) -> list[int]:
    """Text -> the model's phoneme ids (bos ... eos); :class:`TextError` when nothing is pronounceable."""
    return check_ids(model.vocab.encode(frontend.phonemize(text)), model, repr(text[:40]))


def encode_phonemes(model: ScrapsModel, phonemes: str) -> list[int]:
    """Space-separated vocabulary symbols (e.g. "h ə l ˈ oʊ") -> ids (bos ... eos).

    Raises :class:`TextError` for a symbol outside the model's vocabulary (or a special such as ``<pad>``) and for
    input without a single phone.
    """
    vocab = model.vocab
    symbols = phonemes.split()
    specials = {vocab.PAD, vocab.BOS, vocab.EOS, vocab.UNK}
    unknown = sorted({s for s in symbols if s not in vocab.symbols or s in specials})
    if unknown:
        raise TextError(
            f"phonemes {unknown} are not in the model's vocabulary; give space-separated symbols from its "
            f"vocab.json (e.g. {' '.join(vocab.symbols[len(specials) + 1 : len(specials) + 9])})"
        )
    phones = {vocab.symbols[i] for i in vocab.phoneme_ids()}
    if not any(s in phones for s in symbols):
        raise TextError(
            f"phonemes {phonemes[:60]!r} hold no phone (only boundaries, punctuation or marks); give phones"
        )
    return check_ids(vocab.encode(symbols), model, "the phonemes")
