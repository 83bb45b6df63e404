"""Audio I/O and features: the one load/resample path and the one (Vocos-identical) mel."""
from scraps.audio.features import (
    HOP_LENGTH,
    N_FFT,
    N_MELS,
    SAMPLE_RATE,
    AudioError,
    MelSpectrogram,
    frames_to_samples,
    load_audio,
    num_frames,
    resample,
)

__all__ = [
    "AudioError", "HOP_LENGTH", "MelSpectrogram", "N_FFT", "N_MELS", "SAMPLE_RATE", "frames_to_samples",
    "load_audio", "num_frames", "resample",
]
