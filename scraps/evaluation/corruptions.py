"""Corruptions for the sensitivity and robustness tests: phoneme substitution, Gaussian mixing, white noise at an
SNR. Every draw comes from a generator seeded by (seed, stream, ...), so a result depends on the seed only."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from scraps.audio.augment import colored_noise, mix_at_snr

SUBSTITUTION_RATES = (0.05, 0.1, 0.2, 0.3, 0.5)
NOISE_WEIGHTS = (0.25, 0.5, 0.75)
SNRS_DB = (20, 10, 5, 0)

# Seed keys of the random streams (one per kind of draw).
_SUBSTITUTION, _GAUSS, _WHITE, _RETRIEVAL = range(4)


def seeded_generator(*keys: int) -> torch.Generator:
    """A CPU generator seeded from non-negative integer ``keys`` (e.g. seed, condition, utterance index)."""
    state = np.random.SeedSequence(list(keys)).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def substitute_phonemes(
    ids: Sequence[int], rate: float, phone_ids: Sequence[int], generator: torch.Generator
) -> list[int]:
    """Replace exactly round(rate * n) of the n tokens of ``ids`` that are in ``phone_ids`` (positions drawn
    without replacement) by a different phone drawn uniformly from ``phone_ids``. Other tokens are never touched."""
    phones = sorted(set(phone_ids))
    index = {p: i for i, p in enumerate(phones)}
    positions = [i for i, t in enumerate(ids) if t in index]
    out = list(ids)
    for p in torch.randperm(len(positions), generator=generator)[: round(rate * len(positions))].tolist():
        draw = int(torch.randint(len(phones) - 1, (1,), generator=generator))
        out[positions[p]] = phones[draw + (draw >= index[out[positions[p]]])]
    return out


def rms(x: torch.Tensor) -> torch.Tensor:
    """x (..., s) -> (..., 1) root mean square over the last axis."""
    return x.pow(2).mean(-1, keepdim=True).sqrt()


def mix_gaussian(wav: torch.Tensor, weight: float, noise: torch.Tensor) -> torch.Tensor:
    """wav (..., s), noise (..., s) ~ N(0, 1) -> (1 - weight) * wav + weight * rms(wav) * noise, same shape."""
    return (1.0 - weight) * wav + weight * rms(wav) * noise


def noise_conditions(seed: int) -> dict[str, Callable[[int, torch.Tensor], torch.Tensor]]:
    """{report key: (utterance index, clean wav (s,)) -> noisy wav (s,)} for every robustness condition."""

    def gauss(a: float) -> Callable[[int, torch.Tensor], torch.Tensor]:
        def corrupt(i: int, wav: torch.Tensor) -> torch.Tensor:
            return mix_gaussian(wav, a, torch.randn(wav.shape, generator=seeded_generator(seed, _GAUSS, i)))

        return corrupt

    def snr(db: int) -> Callable[[int, torch.Tensor], torch.Tensor]:
        def corrupt(i: int, wav: torch.Tensor) -> torch.Tensor:
            noise = colored_noise((1, len(wav)), "white", generator=seeded_generator(seed, _WHITE, i))
            return mix_at_snr(wav[None], noise, torch.tensor([float(db)]))[0]

        return corrupt

    return {**{f"gauss_{a}": gauss(a) for a in NOISE_WEIGHTS}, **{f"snr_{db}": snr(db) for db in SNRS_DB}}
