import numpy as np
import pytest
import soundfile as sf
import torch
from vocos.feature_extractors import MelSpectrogramFeatures

from scraps.audio import SAMPLE_RATE, AudioError, MelSpectrogram, load_audio, num_frames


@pytest.mark.parametrize("lead", [(3,), (), (2, 2)])
def test_mel_equals_vocos_bit_for_bit_on_random_audio(lead):
    torch.manual_seed(0)
    wav = torch.randn(*lead, 24000) * 0.1
    ours = MelSpectrogram()(wav)
    theirs = MelSpectrogramFeatures(sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100, padding="center")(wav)
    assert ours.shape == (*lead, 100, num_frames(24000))
    assert torch.equal(ours, theirs)


def test_mel_equals_vocos_on_real_clip(ljspeech_subset):
    wav_path = sorted((ljspeech_subset / "wavs").glob("*.flac"))[0]
    wav = load_audio(wav_path)[None]
    assert torch.equal(MelSpectrogram()(wav), MelSpectrogramFeatures()(wav))


def test_mel_saves_no_state():
    assert MelSpectrogram().state_dict() == {}


def test_load_audio_mixes_to_mono_and_resamples(tmp_path):
    t = np.arange(22050) / 22050
    stereo = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 220 * t) * 0.5], axis=1).astype(np.float32)
    sf.write(tmp_path / "a.flac", stereo, 22050)
    wav = load_audio(tmp_path / "a.flac")
    assert wav.dtype == torch.float32 and wav.ndim == 1
    assert abs(wav.shape[0] - SAMPLE_RATE) <= 1
    assert wav.abs().max() == pytest.approx(0.75, abs=0.02)


@pytest.mark.parametrize(
    "content, message",
    [(None, "not found"), (b"", "cannot read"), (b"RIFF\x00\x00garbage", "cannot read")],
)
def test_load_audio_errors_are_one_line(tmp_path, content, message):
    path = tmp_path / "x.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AudioError, match=message) as err:
        load_audio(path)
    assert "\n" not in str(err.value)


def test_load_audio_refuses_non_finite(tmp_path):
    data = np.zeros(1000, dtype=np.float32)
    data[10] = np.nan
    sf.write(tmp_path / "nan.wav", data, 24000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(tmp_path / "nan.wav")
