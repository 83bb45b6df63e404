"""Graded degradations of a (transcript, audio) pair, for checking a score against an ASR's word error rate.

Audio: white noise at an SNR, a band limit (low-pass, or the 300-3400 Hz telephone band), a time stretch that keeps
the pitch (phase vocoder). Text: a transcript with some of its words replaced by others. Every function is
deterministic given its ``generator``; waveforms are (samples,) float tensors at ``sr`` (default 24 kHz).
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch
import torchaudio.functional as AF

from scraps.audio import SAMPLE_RATE
from scraps.audio.augment import colored_noise, mix_at_snr

TELEPHONE_BAND_HZ = (300.0, 3400.0)
STRETCH_N_FFT = 1024  # 43 ms at 24 kHz: the phase vocoder's analysis window
STRETCH_HOP = 256
_WORD = re.compile(r"[A-Za-z][A-Za-z']*")


def white_noise(wav: torch.Tensor, snr_db: float, generator: torch.Generator) -> torch.Tensor:
    """wav (s,) + white noise at ``snr_db`` dB over the whole clip -> (s,) (``mix_at_snr``, as in training)."""
    noise = colored_noise((1, wav.shape[-1]), "white", generator=generator)
    return mix_at_snr(wav[None], noise, torch.tensor([float(snr_db)]))[0]


def band_limit(
    wav: torch.Tensor, low_hz: float | None = None, high_hz: float | None = None, sr: int = SAMPLE_RATE
) -> torch.Tensor:
    """wav (s,) -> (s,) with every frequency below ``low_hz`` or above ``high_hz`` removed (None: that side open).

    A zero-phase brick-wall filter: the clip's spectrum (rfft at the next power of two, zero-padded) has the bins
    outside the band set to zero. Sharper than any telephone line; no delay, so the audio stays aligned.
    """
    s = wav.shape[-1]
    n = 1 << max(0, (s - 1).bit_length())
    spectrum = torch.fft.rfft(wav.float(), n=n)
    freqs = torch.fft.rfftfreq(n, d=1.0 / sr)
    keep = torch.ones_like(freqs, dtype=torch.bool)
    if low_hz is not None:
        keep &= freqs >= low_hz
    if high_hz is not None:
        keep &= freqs <= high_hz
    return torch.fft.irfft(spectrum * keep, n=n)[:s].to(wav.dtype)


def telephone(wav: torch.Tensor, sr: int = SAMPLE_RATE) -> torch.Tensor:
    """wav (s,) -> (s,) limited to the 300-3400 Hz telephone band."""
    return band_limit(wav, *TELEPHONE_BAND_HZ, sr=sr)


def time_stretch(wav: torch.Tensor, speed: float) -> torch.Tensor:
    """wav (s,) -> about (s / speed,) samples: played ``speed`` times as fast, same pitch.

    Phase vocoder (``torchaudio.functional.phase_vocoder``) on a 1024-point STFT with hop 256 (Hann window),
    resynthesised with the inverse STFT. speed 0.7 = slower and 1.43 times longer; 1.3 = faster.
    """
    if speed <= 0:
        raise ValueError(f"time_stretch needs a positive speed, got {speed}")
    window = torch.hann_window(STRETCH_N_FFT)
    spec = torch.stft(wav.float(), STRETCH_N_FFT, STRETCH_HOP, window=window, return_complex=True)  # (f, t)
    advance = torch.linspace(0, math.pi * STRETCH_HOP, spec.shape[0])[:, None]
    stretched = AF.phase_vocoder(spec, speed, advance)
    length = round(wav.shape[-1] / speed)
    return torch.istft(stretched, STRETCH_N_FFT, STRETCH_HOP, window=window, length=length).to(wav.dtype)


def replace_words(text: str, rate: float, vocabulary: Sequence[str], generator: torch.Generator) -> str:
    """``text`` with round(rate * n) of its n words (at least one) replaced by other words of ``vocabulary``.

    Words are runs of letters (and apostrophes); the punctuation and spacing around them stay. Positions are drawn
    without replacement; each replacement is drawn uniformly from the vocabulary words that differ from the word it
    replaces (compared in lower case). Raises ValueError when the text has no word or the vocabulary no other word.
    """
    spans = [m.span() for m in _WORD.finditer(text)]
    if not spans:
        raise ValueError(f"replace_words: no word in {text[:40]!r}")
    choices = sorted({w.lower() for w in vocabulary})
    count = max(1, round(rate * len(spans)))
    picked = sorted(torch.randperm(len(spans), generator=generator)[:count].tolist())
    out, end = [], 0
    for k in picked:
        start, stop = spans[k]
        others = [w for w in choices if w != text[start:stop].lower()]
        if not others:
            raise ValueError(f"replace_words: the vocabulary has no word other than {text[start:stop]!r}")
        out += [text[end:start], others[int(torch.randint(len(others), (1,), generator=generator))]]
        end = stop
    return "".join(out) + text[end:]


def words_of(texts: Sequence[str]) -> list[str]:
    """The distinct lower-case words of ``texts``, sorted (a replacement vocabulary for :func:`replace_words`)."""
    return sorted({m.group().lower() for t in texts for m in _WORD.finditer(t)})
