"""Vocoders: Vocos log-mel (b, 100, t) -> 24 kHz waveform (b, t * 256).

Two implementations behind one interface, ``vocoder(mel, lengths) -> audio`` plus ``.name``:

* :class:`VocosVocoder` wraps a Vocos built from its ``config.yaml`` (``Vocos.from_hparams``) whose weights are
  read without unpickling (``model.safetensors``, or ``pytorch_model.bin`` through ``torch.load(weights_only=True)``),
  from a local directory, the Hugging Face cache, or the hub.
* :class:`GriffinLimVocoder` needs no weights: the log-mel is exponentiated, mapped back to a linear magnitude
  spectrogram with the pseudo-inverse of the very filterbank :class:`scraps.audio.features.MelSpectrogram` uses,
  and given a phase by Griffin-Lim (n_fft 1024, hop 256, magnitude spectrogram). Intelligible, but buzzy.

Every item is vocoded on its own (cropped to its length), so an utterance sounds the same whatever batch it is in.
Item ``i`` fills the first ``lengths[i] * HOP_LENGTH`` samples of its row; the rest is zero.

:func:`load_vocoder` resolves the ``--vocoder`` choice: ``auto`` takes ``$SCRAPS_VOCOS_DIR`` or a cached
``charactr/vocos-mel-24khz`` without touching the network, else falls back to Griffin-Lim with one warning.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
import torchaudio
import yaml
from torch import nn

from scraps.audio.features import HOP_LENGTH, N_FFT, N_MELS, SAMPLE_RATE, MelSpectrogram
from tts.model import SILENCE

if TYPE_CHECKING:
    from vocos import Vocos

log = logging.getLogger(__name__)

_GRIFFIN_LIM_MIN_FRAMES = 5  # (5 - 1) * 256 samples > n_fft / 2, the reflect padding of the centred STFT

VOCOS_HUB_ID = "charactr/vocos-mel-24khz"
VOCOS_DIR_ENV = "SCRAPS_VOCOS_DIR"
VOCOS_CONFIG = "config.yaml"
VOCOS_WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # first found wins

# The architecture of charactr/vocos-mel-24khz (its config.yaml), on this project's mel settings.
VOCOS_MEL_24KHZ_CONFIG: dict[str, Any] = {
    "feature_extractor": {
        "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
        "init_args": {
            "sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop_length": HOP_LENGTH, "n_mels": N_MELS,
            "padding": "center",
        },
    },
    "backbone": {
        "class_path": "vocos.models.VocosBackbone",
        "init_args": {"input_channels": N_MELS, "dim": 512, "intermediate_dim": 1536, "num_layers": 8},
    },
    "head": {
        "class_path": "vocos.heads.ISTFTHead",
        "init_args": {"dim": 512, "n_fft": N_FFT, "hop_length": HOP_LENGTH, "padding": "same"},
    },
}  # fmt: skip


# The classes a Vocos config may name: those a mel-input Vocos with an ISTFT head is built from.
VOCOS_CLASSES: dict[str, frozenset[str]] = {
    "feature_extractor": frozenset({"vocos.feature_extractors.MelSpectrogramFeatures"}),
    "backbone": frozenset({"vocos.models.VocosBackbone", "vocos.models.VocosResNetBackbone"}),
    "head": frozenset({"vocos.heads.ISTFTHead"}),
}


class VocoderError(ValueError):
    """A vocoder choice cannot be used (missing or foreign directory, unreadable weights, hub unreachable)."""


class Vocoder(nn.Module):
    """Common interface: ``vocoder(mel (b, 100, t), lengths (b,)) -> audio (b, t * 256)``, and ``.name``."""

    name: str

    def vocode(self, mel: torch.Tensor) -> torch.Tensor:
        """One unpadded item: log-mel (1, 100, n) -> audio (1, n * 256)."""
        raise NotImplementedError

    def forward(self, mel: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """mel (b, 100, t) Vocos log-mel, lengths (b,) frames -> audio (b, t * 256), zero beyond each item."""
        if mel.ndim != 3 or mel.shape[1] != N_MELS:
            raise ValueError(f"vocoder input must be a log-mel of shape (b, {N_MELS}, t), got {tuple(mel.shape)}")
        if lengths.shape != (mel.shape[0],) or int(lengths.min()) < 1 or int(lengths.max()) > mel.shape[2]:
            raise ValueError(f"lengths must be (b,) = ({mel.shape[0]},) values in 1..{mel.shape[2]}, got {lengths}")
        audio = mel.new_zeros(mel.shape[0], mel.shape[2] * HOP_LENGTH)
        for i, n in enumerate(lengths.tolist()):
            audio[i, : n * HOP_LENGTH] = self.vocode(mel[i : i + 1, :, :n])[0]
        return audio


class GriffinLimVocoder(Vocoder):
    """Log-mel -> linear magnitude (filterbank pseudo-inverse, clamped at 0) -> Griffin-Lim phase -> audio.

    Starts from zero phase (``rand_init=False``) so the output is deterministic and draws nothing from the RNG.
    """

    name = "griffinlim"

    def __init__(self, n_iter: int = 32) -> None:
        super().__init__()
        fb = MelSpectrogram().spec.mel_scale.fb  # (n_freqs, n_mels): mel = fb^T @ linear magnitude
        self.register_buffer("inverse_fb", torch.linalg.pinv(fb), persistent=False)  # (n_mels, n_freqs)
        self.griffin_lim = torchaudio.transforms.GriffinLim(
            n_fft=N_FFT, hop_length=HOP_LENGTH, win_length=N_FFT, power=1.0, n_iter=n_iter, rand_init=False
        )

    def vocode(self, mel: torch.Tensor) -> torch.Tensor:
        """log-mel (1, 100, n) -> audio (1, n * 256).

        The centred inverse STFT of m frames gives (m - 1) * 256 samples, and Griffin-Lim's STFT needs m >= 4:
        short inputs are padded with silent frames, the output with one hop of zeros, then cropped to n * 256.
        """
        n = mel.shape[2]
        mel = F.pad(mel.float(), (0, max(0, _GRIFFIN_LIM_MIN_FRAMES - n)), value=SILENCE)
        linear = torch.einsum("bmt,mf->bft", mel.exp(), self.inverse_fb).clamp(min=0.0)
        return F.pad(self.griffin_lim(linear), (0, HOP_LENGTH))[:, : n * HOP_LENGTH]


class VocosVocoder(Vocoder):
    """A loaded Vocos (see :func:`load_vocos_dir`); ``name`` says where it came from."""

    def __init__(self, vocos: Vocos, source: str) -> None:
        super().__init__()
        self.vocos = vocos.eval()
        self.name = f"vocos ({source})"

    def vocode(self, mel: torch.Tensor) -> torch.Tensor:
        """log-mel (1, 100, n) -> audio (1, n * 256) (the ISTFT head pads "same")."""
        return self.vocos.decode(mel.float())


def _check_vocos_config(config: object, where: Path) -> None:
    """Refuse anything but the Vocos classes of :data:`VOCOS_CLASSES` with keyword arguments.

    ``Vocos.from_hparams`` imports and calls whatever a config names, with whatever arguments it gives (even
    vocos' own ``instantiate_class`` would call further classes), so only known constructors pass.
    """
    if not isinstance(config, dict) or not all(isinstance(config.get(p), dict) for p in VOCOS_CLASSES):
        raise VocoderError(f"{where} is not a Vocos config (it needs {', '.join(VOCOS_CLASSES)} sections)")
    for part, allowed in VOCOS_CLASSES.items():
        path = str(config[part].get("class_path", ""))
        if path not in allowed:
            raise VocoderError(
                f"{where}: {part}.class_path {path!r} is not a vocos class this loader accepts "
                f"({', '.join(sorted(allowed))}); refusing to import it"
            )
        if not isinstance(config[part].get("init_args", {}), dict):
            raise VocoderError(f"{where}: {part}.init_args must be a mapping of keyword arguments")


def _check_vocos_fits(vocos: Vocos, where: Path) -> None:
    """The Vocos must read this project's mel (24 kHz, 1024/256, 100 mels) and emit 256 samples a frame."""
    from vocos.feature_extractors import MelSpectrogramFeatures
    from vocos.heads import ISTFTHead

    fe, head = vocos.feature_extractor, vocos.head
    mel_ok = isinstance(fe, MelSpectrogramFeatures) and fe.padding == "center" and (
        fe.mel_spec.sample_rate, fe.mel_spec.n_fft, fe.mel_spec.hop_length, fe.mel_spec.n_mels
    ) == (SAMPLE_RATE, N_FFT, HOP_LENGTH, N_MELS)
    head_ok = isinstance(head, ISTFTHead) and head.istft.padding == "same" and head.istft.hop_length == HOP_LENGTH
    if not (mel_ok and head_ok):
        raise VocoderError(
            f"{where} is not a 24 kHz, 100-mel Vocos (mel 1024/256 centred, ISTFT head hop 256 'same'); "
            f"use {VOCOS_HUB_ID}"
        )


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    """State dict from safetensors or a torch file, never unpickling arbitrary objects."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # safetensors, pickle and zip errors come in several types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise VocoderError(f"cannot read Vocos weights {path} (truncated or not a state dict?): {reason}") from None
    if not isinstance(state, dict):
        raise VocoderError(f"{path} does not hold a state dict")
    return state


def load_vocos_files(config_path: Path, weights_path: Path) -> Vocos:
    """Build a Vocos from ``config_path`` (``Vocos.from_hparams``) and load ``weights_path`` into it strictly."""
    from vocos import Vocos

    try:
        config = yaml.safe_load(config_path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise VocoderError(f"cannot read {config_path}: {str(exc).splitlines()[0]}") from None
    _check_vocos_config(config, config_path)
    try:
        vocos = Vocos.from_hparams(str(config_path))
    except Exception as exc:  # bad init_args raise TypeError, unknown classes ImportError/AttributeError
        raise VocoderError(f"cannot build Vocos from {config_path}: {type(exc).__name__}: {exc}") from None
    _check_vocos_fits(vocos, config_path)
    try:
        vocos.load_state_dict(_read_weights(weights_path))
    except RuntimeError as exc:
        reason = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise VocoderError(f"{weights_path} does not fit {config_path}: {reason}") from None
    return vocos.eval()


def load_vocos_dir(path: str | Path) -> Vocos:
    """A Vocos directory: ``config.yaml`` + ``model.safetensors`` or ``pytorch_model.bin`` (a hub snapshot works)."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise VocoderError(f"Vocos directory not found: {path}; pass a folder with {VOCOS_CONFIG} and weights")
    weights = next((path / w for w in VOCOS_WEIGHTS if (path / w).is_file()), None)
    if not (path / VOCOS_CONFIG).is_file() or weights is None:
        raise VocoderError(
            f"{path} is not a Vocos directory: it needs {VOCOS_CONFIG} and one of {', '.join(VOCOS_WEIGHTS)}"
        )
    return load_vocos_files(path / VOCOS_CONFIG, weights)


def write_vocos_dir(out_dir: str | Path, vocos: Vocos, config: dict[str, Any]) -> Path:
    """Save ``vocos`` (built from ``config``) as an offline directory that :func:`load_vocos_dir` reads."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / VOCOS_CONFIG).write_text(yaml.safe_dump(config, sort_keys=False))
    tensors = {k: v.detach().cpu().contiguous() for k, v in vocos.state_dict().items()}
    save_file(tensors, str(out_dir / VOCOS_WEIGHTS[0]))
    return out_dir


def build_vocos(config: dict[str, Any]) -> Vocos:
    """A randomly initialised Vocos of ``config``'s architecture (e.g. :data:`VOCOS_MEL_24KHZ_CONFIG`)."""
    from vocos import Vocos

    _check_vocos_config(config, Path("<config>"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / VOCOS_CONFIG
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return Vocos.from_hparams(str(path)).eval()


def _cached_hub_files(repo_id: str) -> tuple[Path, Path] | None:
    """(config, weights) of ``repo_id`` already in the Hugging Face cache, without any network access."""
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(repo_id, VOCOS_CONFIG)
    if not isinstance(config, str):
        return None
    for name in VOCOS_WEIGHTS:
        weights = try_to_load_from_cache(repo_id, name)
        if isinstance(weights, str):
            return Path(config), Path(weights)
    return None


def _download_hub_files(repo_id: str) -> tuple[Path, Path]:
    """(config, weights) of ``repo_id`` from the hub (cached afterwards)."""
    from huggingface_hub import hf_hub_download

    try:
        config = hf_hub_download(repo_id, VOCOS_CONFIG)
        weights = hf_hub_download(repo_id, VOCOS_WEIGHTS[1])
    except Exception as exc:  # network, auth, missing repo: huggingface_hub raises many types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise VocoderError(
            f"cannot fetch Vocos {repo_id!r} from the Hugging Face hub ({reason}); "
            f"pass --vocoder DIR with a local copy, set {VOCOS_DIR_ENV}, or use --vocoder griffinlim"
        ) from None
    return Path(config), Path(weights)


def _looks_like_path(spec: str) -> bool:
    return spec.startswith(("/", ".", "~")) or spec.count("/") != 1 or Path(spec).exists()


def load_vocoder(spec: str = "auto", device: str | torch.device = "cpu") -> Vocoder:
    """Resolve a vocoder choice: ``auto``, ``griffinlim``, a Vocos directory, or a hub id ("owner/name").

    ``auto``: ``$SCRAPS_VOCOS_DIR`` when set (an error if it is not a Vocos directory), else
    ``charactr/vocos-mel-24khz`` from the Hugging Face cache (no network), else Griffin-Lim with one warning.
    A hub id is read from the cache when there, else downloaded. Raises :class:`VocoderError` with one line.
    """
    if spec == "griffinlim":
        return GriffinLimVocoder().to(device)
    if spec == "auto":
        env = os.environ.get(VOCOS_DIR_ENV)
        if env:
            return VocosVocoder(load_vocos_dir(env), f"${VOCOS_DIR_ENV}={env}").to(device)
        cached = _cached_hub_files(VOCOS_HUB_ID)
        if cached is not None:
            return VocosVocoder(load_vocos_files(*cached), f"{VOCOS_HUB_ID}, cached").to(device)
        log.warning(
            "no Vocos weights found (%s is unset and %s is not in the Hugging Face cache): using Griffin-Lim, "
            "which sounds buzzy; pass --vocoder DIR or set %s for Vocos",
            VOCOS_DIR_ENV, VOCOS_HUB_ID, VOCOS_DIR_ENV,
        )  # fmt: skip
        return GriffinLimVocoder().to(device)
    if Path(spec).expanduser().is_dir():
        return VocosVocoder(load_vocos_dir(spec), spec).to(device)
    if _looks_like_path(spec):
        raise VocoderError(
            f"vocoder {spec!r} is neither a Vocos directory nor a hub id (owner/name); "
            "use auto, griffinlim, a folder with config.yaml + weights, or e.g. " + VOCOS_HUB_ID
        )
    files = _cached_hub_files(spec) or _download_hub_files(spec)
    return VocosVocoder(load_vocos_files(*files), spec).to(device)
