"""Audio I/O and features: the one load/resample path and the one (Vocos-identical) mel."""
from scraps.audio.features import (
    HOP_LENGTH,
    N_FFT,
    N_MELS,
    SAMPLE_RATE,
    AudioError,
    MelSpectrogram,
    denormalize_mel,
    frames_to_samples,
    load_audio,
    normalize_mel,
    num_frames,
    resample,
)

__all__ = [
    "AudioError", "HOP_LENGTH", "MelSpectrogram", "N_FFT", "N_MELS", "SAMPLE_RATE", "denormalize_mel",
    "frames_to_samples", "load_audio", "normalize_mel", "num_frames", "resample",
]
