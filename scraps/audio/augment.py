"""Training-time waveform augmentation, run on the training device before the mel: noise at a random SNR, gain.

Noise is made on the fly (white, pink, brown: white noise shaped in the rfft domain) or cropped from noise
recordings loaded once. Everything random comes from one optional ``torch.Generator``, so a seeded generator
reproduces a batch exactly.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from scraps.audio.features import load_audio
from scraps.nn.layers import lengths_to_padding_mask

# Power spectral density ~ 1 / f**exponent.
COLOR_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}
_EPS = 1e-12


def _check_colors(colors: Sequence[str]) -> None:
    unknown = [c for c in colors if c not in COLOR_EXPONENTS]
    if unknown:
        raise ValueError(f"unknown noise colour(s) {unknown}; choose from {sorted(COLOR_EXPONENTS)}")


def _randn(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | str | None
) -> torch.Tensor:
    # Draw on the generator's device (a CPU generator cannot feed a CUDA draw), then move.
    source = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=source).to(device)


def _rand(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | str | None
) -> torch.Tensor:
    source = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=source).to(device)


def shape_spectrum(white: torch.Tensor, exponents: torch.Tensor) -> torch.Tensor:
    """white (b, s) noise, exponents (b,) -> (b, s) unit-RMS noise with power spectral density ~ 1/f^exponent.

    DC is removed; frequencies are clamped at the lowest non-zero bin. The FFT runs at the next power of two
    (the input is zero-extended, the output cropped): an arbitrary length such as a prime is many times slower.
    """
    s = white.shape[-1]
    n = 1 << max(0, (s - 1).bit_length())
    freqs = torch.fft.rfftfreq(n, device=white.device).clamp(min=1.0 / n)
    gains = freqs[None, :] ** (-0.5 * exponents[:, None].to(freqs.dtype))
    gains[:, 0] = 0.0
    noise = torch.fft.irfft(torch.fft.rfft(white, n=n, dim=-1) * gains, n=n, dim=-1)[..., :s]
    return noise / noise.pow(2).mean(-1, keepdim=True).sqrt().clamp(min=_EPS)


def colored_noise(
    shape: tuple[int, int],
    color: str = "white",
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Unit-RMS noise of ``shape`` (b, s) and ``color`` ("white", "pink" or "brown") on ``device``."""
    _check_colors([color])
    white = _randn(tuple(shape), generator, device)
    exponents = torch.full((shape[0],), COLOR_EXPONENTS[color], device=white.device)
    return shape_spectrum(white, exponents)


def mix_at_snr(
    wav: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor, lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """wav (b, s) + noise (b, s) scaled to ``snr_db`` (b,) -> (b, s).

    Signal and noise power are measured on each item's valid part (the first ``lengths`` samples, or all of
    them); noise is added there only, so padding keeps its values. A silent item stays silent.
    """
    b, s = wav.shape
    if lengths is None:
        lengths = torch.full((b,), s, device=wav.device)
    valid = ~lengths_to_padding_mask(lengths, s)
    count = lengths.clamp(min=1).to(wav.dtype)
    signal_power = (wav.pow(2) * valid).sum(-1) / count
    noise_power = (noise.pow(2) * valid).sum(-1) / count
    scale = (signal_power / (noise_power.clamp(min=_EPS) * 10.0 ** (snr_db.to(wav.dtype) / 10.0))).sqrt()
    return wav + scale[:, None] * noise * valid


class WaveAugment(nn.Module):
    """Random noise (with probability ``prob``, SNR uniform in ``snr_db``) and random gain (uniform in ``gain_db``).

    Each noisy item takes one noise source uniformly among ``colors`` and the ``noise_files`` (each file is one
    source; a random crop, looped when shorter than the item). Noise files are loaded once, at 24 kHz, into a
    non-persistent buffer that follows the module's device.
    """

    def __init__(
        self,
        snr_db: tuple[float, float] = (0.0, 30.0),
        prob: float = 0.8,
        colors: Sequence[str] = ("white", "pink", "brown"),
        gain_db: tuple[float, float] = (-6.0, 6.0),
        noise_files: list[str] | None = None,
    ) -> None:
        super().__init__()
        _check_colors(colors)
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"WaveAugment prob must lie in [0, 1], got {prob}")
        if prob > 0 and not colors and not noise_files:
            raise ValueError("WaveAugment has no noise source: give colors or noise_files (or set prob=0)")
        self.snr_db = (float(snr_db[0]), float(snr_db[1]))
        self.gain_db = (float(gain_db[0]), float(gain_db[1]))
        self.prob = prob
        self.colors = tuple(colors)
        # Exponent per source; file sources get 0 (their shaped white noise is replaced by the crop).
        exponents = [COLOR_EXPONENTS[c] for c in self.colors] + [0.0] * len(noise_files or [])
        self.register_buffer("source_exponents", torch.tensor(exponents), persistent=False)
        recordings = [load_audio(f) for f in noise_files or []]
        sizes = torch.tensor([len(r) for r in recordings], dtype=torch.int64)
        self.register_buffer("noise_bank", torch.cat(recordings) if recordings else torch.zeros(0), persistent=False)
        self.register_buffer("noise_sizes", sizes, persistent=False)
        self.register_buffer("noise_offsets", torch.cumsum(sizes, 0) - sizes, persistent=False)

    @property
    def num_sources(self) -> int:
        return len(self.source_exponents)

    def _file_noise(self, file_index: torch.Tensor, start: torch.Tensor, s: int) -> torch.Tensor:
        """file_index (k,), start (k,) uniform in [0, 1) -> (k, s) crops, looped around the recording's end."""
        size = self.noise_sizes[file_index]
        first = (start * size).long().clamp(max=size - 1)
        pos = (first[:, None] + torch.arange(s, device=size.device)) % size[:, None]
        return self.noise_bank[self.noise_offsets[file_index][:, None] + pos]

    def forward(
        self,
        wav: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None = None,
        prob: float | None = None,
    ) -> torch.Tensor:
        """wav (b, s), lengths (b,) -> augmented (b, s); samples beyond each length are returned unchanged.

        ``prob`` overrides the noise probability for this call (e.g. a schedule); the random draws are the same
        whatever it is, so a batch's noise only appears or not.
        """
        b, s = wav.shape
        u = _rand((b, 5), generator, wav.device)
        noisy = u[:, 0] < (self.prob if prob is None else prob)
        snr = self.snr_db[0] + (self.snr_db[1] - self.snr_db[0]) * u[:, 1]
        gain = 10.0 ** ((self.gain_db[0] + (self.gain_db[1] - self.gain_db[0]) * u[:, 2]) / 20.0)
        out = wav
        rows = noisy.nonzero().squeeze(1)
        if self.num_sources and len(rows):
            # Noise is drawn and shaped for the noisy rows only (the FFT is the costly part of this module).
            source = (u[rows, 3] * self.num_sources).long().clamp(max=self.num_sources - 1)
            noise = shape_spectrum(_randn((len(rows), s), generator, wav.device), self.source_exponents[source])
            from_file = source >= len(self.colors)
            if len(self.noise_sizes) and bool(from_file.any()):
                picked = from_file.nonzero().squeeze(1)
                crops = self._file_noise(source[picked] - len(self.colors), u[rows[picked], 4], s)
                noise = noise.index_copy(0, picked, crops.to(noise.dtype))
            noisy_part = mix_at_snr(wav[rows], noise, snr[rows], lengths[rows])
            out = wav.index_copy(0, rows, noisy_part.to(wav.dtype))
        valid = ~lengths_to_padding_mask(lengths, s)
        return torch.where(valid, out * gain[:, None], wav)
