"""Checks and encoding of what a SCRAPS model is given: audio length limits, phoneme strings to ids.

Texts go to ids through the model's own :meth:`~scraps.export.TextInputMixin.encode_text`."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from scraps.audio import SAMPLE_RATE, AudioError, frames_to_samples, num_frames
from scraps.text import TextError

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
    return model.check_ids(vocab.encode(symbols), "the phonemes")
