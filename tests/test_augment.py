"""Waveform augmentation: exact SNR, untouched padding, determinism, noise colours, noise files."""
from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from scraps.audio.augment import WaveAugment, colored_noise, mix_at_snr
from scraps.audio.features import SAMPLE_RATE


def speechlike(b: int, s: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(s) / SAMPLE_RATE
    f0 = 100 + 200 * torch.rand(b, 1, generator=g)
    return 0.3 * torch.sin(2 * math.pi * f0 * t) * (1 + torch.sin(2 * math.pi * 3 * t)) + 0.01 * torch.randn(
        b, s, generator=g
    )


def measured_snr_db(clean: torch.Tensor, noisy: torch.Tensor, n: int) -> float:
    noise = noisy[:n] - clean[:n]
    return 10 * math.log10(clean[:n].pow(2).sum().item() / noise.pow(2).sum().item())


def test_mix_at_snr_hits_the_requested_snr_on_the_valid_part():
    lengths = torch.tensor([24000, 15000, 7001])
    wav = speechlike(3, 24000)
    wav[1, 15000:] = 0.0
    wav[2, 7001:] = 0.0
    noise = colored_noise((3, 24000), "pink", torch.Generator().manual_seed(1))
    snr = torch.tensor([0.0, 12.5, -5.0])
    out = mix_at_snr(wav, noise, snr, lengths)
    for i, n in enumerate(lengths.tolist()):
        assert measured_snr_db(wav[i], out[i], n) == pytest.approx(snr[i].item(), abs=0.1)
        assert bool((out[i, n:] == 0).all())


def test_wave_augment_snr_padding_and_gain():
    lengths = torch.tensor([12000, 8000])
    wav = speechlike(2, 12000)
    wav[1, 8000:] = 0.0
    aug = WaveAugment(snr_db=(10.0, 10.0), prob=1.0, gain_db=(0.0, 0.0))
    out = aug(wav, lengths, generator=torch.Generator().manual_seed(0))
    for i, n in enumerate(lengths.tolist()):
        assert measured_snr_db(wav[i], out[i], n) == pytest.approx(10.0, abs=0.1)
    assert bool((out[1, 8000:] == 0).all())
    gained = WaveAugment(prob=0.0, gain_db=(6.0, 6.0))(wav, lengths)
    torch.testing.assert_close(gained[0], wav[0] * 10 ** (6 / 20))


def test_padding_is_returned_unchanged():
    wav = speechlike(4, 6000)
    lengths = torch.tensor([6000, 5000, 3000, 100])
    out = WaveAugment(prob=1.0)(wav, lengths, generator=torch.Generator().manual_seed(2))
    for i, n in enumerate(lengths.tolist()):
        assert torch.equal(out[i, n:], wav[i, n:])
        assert not torch.equal(out[i, :n], wav[i, :n])


def test_deterministic_for_a_seeded_generator():
    wav, lengths = speechlike(4, 8000), torch.tensor([8000, 7000, 6000, 5000])
    aug = WaveAugment(prob=0.5)
    a = aug(wav, lengths, generator=torch.Generator().manual_seed(7))
    b = aug(wav, lengths, generator=torch.Generator().manual_seed(7))
    c = aug(wav, lengths, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_prob_override_sets_the_noise_probability_of_one_call():
    wav, lengths = speechlike(6, 8000), torch.full((6,), 8000)
    aug = WaveAugment(prob=0.5, gain_db=(0.0, 0.0))
    clean = aug(wav, lengths, generator=torch.Generator().manual_seed(3), prob=0.0)
    assert torch.equal(clean, wav)  # a scheduled probability of 0 (start of an augmentation warmup): no noise
    every = aug(wav, lengths, generator=torch.Generator().manual_seed(3), prob=1.0)
    assert all(not torch.equal(every[i], wav[i]) for i in range(6))
    half = aug(wav, lengths, generator=torch.Generator().manual_seed(3))  # the module's own 0.5
    assert 0 < sum(not torch.equal(half[i], wav[i]) for i in range(6)) < 6


def spectral_slope(noise: torch.Tensor) -> float:
    """Least-squares slope of log power vs log frequency (averaged over rows) between 50 Hz and 10 kHz."""
    power = torch.fft.rfft(noise, dim=-1).abs().pow(2).mean(0)
    freqs = torch.fft.rfftfreq(noise.shape[-1], d=1 / SAMPLE_RATE)
    keep = (freqs > 50) & (freqs < 10000)
    x, y = freqs[keep].log().numpy(), power[keep].log().numpy()
    return float(np.polyfit(x, y, 1)[0])


@pytest.mark.parametrize("color,slope", [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_noise_colours_have_the_expected_spectral_slope(color, slope):
    noise = colored_noise((8, 24000), color, torch.Generator().manual_seed(3))
    torch.testing.assert_close(noise.pow(2).mean(-1).sqrt(), torch.ones(8))
    measured = spectral_slope(noise)
    assert measured == pytest.approx(slope, abs=0.25)


def test_noise_files_are_cropped_and_looped(tmp_path):
    path = tmp_path / "hum.wav"
    t = np.arange(2400) / SAMPLE_RATE  # 0.1 s of a 500 Hz hum (whole periods: loops seamlessly)
    sf.write(path, (0.5 * np.sin(2 * np.pi * 500 * t)).astype(np.float32), SAMPLE_RATE)
    aug = WaveAugment(snr_db=(5.0, 5.0), prob=1.0, colors=(), gain_db=(0.0, 0.0), noise_files=[str(path)])
    wav, lengths = speechlike(2, 12000), torch.tensor([12000, 9000])  # longer than the recording
    out = aug(wav, lengths, generator=torch.Generator().manual_seed(0))
    for i, n in enumerate(lengths.tolist()):
        assert measured_snr_db(wav[i], out[i], n) == pytest.approx(5.0, abs=0.1)
        added = out[i, :n] - wav[i, :n]
        peak = torch.fft.rfftfreq(n, d=1 / SAMPLE_RATE)[torch.fft.rfft(added).abs().argmax()]
        assert peak.item() == pytest.approx(500, abs=5)
    assert "noise_bank" not in aug.state_dict()


def test_bad_arguments_raise_one_line_errors():
    with pytest.raises(ValueError, match="unknown noise colour"):
        WaveAugment(colors=("purple",))
    with pytest.raises(ValueError, match="no noise source"):
        WaveAugment(colors=())
    with pytest.raises(ValueError, match="unknown noise colour"):
        colored_noise((1, 100), "grey")
