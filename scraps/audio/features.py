"""Audio loading and the project's one mel spectrogram.

Every waveform enters the project through :func:`load_audio` (mono, float32, 24 kHz) and every mel frame comes
out of :class:`MelSpectrogram`, which is bit-identical to
``vocos.feature_extractors.MelSpectrogramFeatures(sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100,
padding="center")`` so that a pretrained Vocos can vocode our decoder's mels and SCRAPS can score them.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

SAMPLE_RATE = 24000
N_FFT = 1024
HOP_LENGTH = 256
N_MELS = 100
LOG_CLIP = 1e-7  # floor before the log, as in Vocos
# libsndfile's log for a WAV whose data chunk promises more bytes than the file holds (cut-off copy/download)
_WAV_SHORT_DATA = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


class AudioError(ValueError):
    """Audio a user gave us cannot be used (missing, unreadable, empty, non-finite)."""


@lru_cache(maxsize=16)
def _resampler(orig_sr: int, target_sr: int) -> torchaudio.transforms.Resample:
    # Building the sinc kernel is the expensive part; one instance per rate pair, reused.
    return torchaudio.transforms.Resample(orig_sr, target_sr)


def resample(wav: torch.Tensor, orig_sr: int, target_sr: int = SAMPLE_RATE) -> torch.Tensor:
    """Resample ``wav`` (..., samples) from ``orig_sr`` to ``target_sr`` with a cached kernel."""
    if orig_sr == target_sr:
        return wav
    return _resampler(int(orig_sr), int(target_sr))(wav)


def truncated_wav(extra_info: str) -> tuple[int, int] | None:
    """(bytes present, bytes announced) when libsndfile's ``extra_info`` shows a WAV cut off inside its data
    chunk (it reads without error but holds only part of the utterance), else None."""
    short = _WAV_SHORT_DATA.search(extra_info)
    if short and int(short[2]) < int(short[1]) < 0xFFFFFFFF:  # 0xFFFFFFFF: a streaming writer's placeholder
        return int(short[2]), int(short[1])
    return None


def load_audio(path: str | Path, target_sr: int = SAMPLE_RATE) -> torch.Tensor:
    """Read a wav/flac file as mono float32 at ``target_sr``.

    Returns a tensor of shape (samples,). Multi-channel audio is averaged to mono; any sample rate and bit
    depth libsndfile reads (8-bit, 24-bit, float, 96 kHz, ...) is converted. Raises :class:`AudioError` with a
    one-line reason for a missing, unreadable, truncated, empty or non-finite file.
    """
    path = Path(path)
    if not path.is_file():
        if path.exists():  # never opened: a directory, device or pipe (reading one could block or never end)
            raise AudioError(f"not a regular file: {path} (a directory, device or pipe); give a wav/flac file")
        raise AudioError(f"audio file not found: {path}; check the path")
    try:
        with sf.SoundFile(str(path)) as f:
            sr, extra = f.samplerate, f.extra_info
            data = f.read(dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for corrupt files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioError(f"cannot read audio {path}: {reason}; is it a valid wav/flac file?") from None
    short = truncated_wav(extra)
    if short:
        raise AudioError(
            f"audio file is truncated (its data chunk holds {short[0]} of the {short[1]} bytes its header "
            f"announces): {path}; copy or export it again"
        )
    if data.shape[0] == 0:
        raise AudioError(f"audio file is empty (0 samples): {path}")
    if not np.isfinite(data).all():
        raise AudioError(f"audio file contains NaN or infinite samples: {path}")
    wav = torch.from_numpy(data.mean(axis=1) if data.shape[1] > 1 else data[:, 0])
    return resample(wav, sr, target_sr).contiguous()


def num_frames(num_samples: int | torch.Tensor) -> int | torch.Tensor:
    """Mel frames that :class:`MelSpectrogram` makes from ``num_samples`` samples (centred STFT)."""
    return num_samples // HOP_LENGTH + 1


def frames_to_samples(frames: int) -> int:
    """Samples covered by ``frames`` mel frames (inverse of :func:`num_frames`, up to one hop)."""
    return max(0, (frames - 1) * HOP_LENGTH)


def normalize_mel(mel: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Log-mel (any layout) -> ``(mel - mean) / std``: a model's fixed input normalisation (each model keeps its
    own ``mean`` and ``std`` constants)."""
    return (mel - mean) / std


def denormalize_mel(mel_norm: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Inverse of :func:`normalize_mel`: ``mel_norm * std + mean`` (same layout)."""
    return mel_norm * std + mean


class MelSpectrogram(nn.Module):
    """Log-mel spectrogram identical to Vocos' ``MelSpectrogramFeatures`` (24 kHz, 1024/256, 100 mels).

    Holds no trainable parameters and saves nothing in a state dict.
    """

    def __init__(self) -> None:
        super().__init__()
        self.spec = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS, center=True, power=1
        )
        for name, buf in list(self.spec.named_buffers()):
            # keep the buffers on the module (they follow .to(device)) but out of checkpoints
            owner = self.spec.get_submodule(name.rsplit(".", 1)[0]) if "." in name else self.spec
            leaf = name.rsplit(".", 1)[-1]
            owner._non_persistent_buffers_set.add(leaf)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """wav (b, samples) float -> log-mel (b, 100, frames), frames = samples // 256 + 1; float32 under autocast."""
        with torch.autocast(device_type=wav.device.type, enabled=False):
            mel = self.spec(wav.float())
            return torch.log(torch.clamp(mel, min=LOG_CLIP))

    def batch(self, wav: torch.Tensor, wav_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero-padded wav (b, samples), wav_lens (b,) -> mel (b, 100, frames), mel_lens (b,) = num_frames(wav_lens).

        Each item's frames equal the mel of that item alone: its end is reflect-padded at its own length (as the
        centred STFT does for a lone waveform) instead of running into the batch's zero padding. Holds for items
        longer than n_fft / 2 = 512 samples (shorter ones cannot be reflect-padded alone either).
        """
        s = wav.shape[1]
        if wav_lens.numel() and (int(wav_lens.min()) < 1 or int(wav_lens.max()) > s):
            raise ValueError(f"wav_lens must lie in 1..{s} (the padded length), got {wav_lens.tolist()}")
        half = N_FFT // 2
        pad = torch.arange(s, device=wav.device)[None, :] >= wav_lens[:, None]
        wav = wav.masked_fill(pad, 0.0)
        k = torch.arange(half, device=wav.device)
        reflected = wav.gather(1, (wav_lens[:, None] - 2 - k).clamp(min=0))
        wav = F.pad(wav, (0, half)).scatter(1, wav_lens[:, None] + k, reflected)
        return self(wav)[..., : num_frames(s)], num_frames(wav_lens)

