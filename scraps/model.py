"""ScrapsModel: phonetic and acoustic encoders, LSTM integrators, projections, and the SCRAPS score.

The SCRAPS score of a (phonemes, audio) pair is the cosine of their L2-normalised embeddings.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from scraps.audio.features import N_MELS, MelSpectrogram
from scraps.export import ModelDirError, TextInputMixin, load_model_dir, load_weights, save_model_dir
from scraps.nn.acoustic_encoder import AcousticEncoder
from scraps.nn.config import DictRoundTrip, EncoderConfig
from scraps.nn.layers import lengths_to_padding_mask
from scraps.nn.lstm import lstm_last_state
from scraps.nn.phonetic_encoder import PhoneticEncoder

if TYPE_CHECKING:
    from scraps.text import PhonemeVocab

MODEL_TYPE = "scraps"
INTEGRATORS = ("shared", "separate", "none")
BRANCHES = ("phonetic", "acoustic")


@dataclass
class ScrapsConfig(DictRoundTrip):
    """Everything needed to rebuild a :class:`ScrapsModel` (stored as ``model:`` in an export's config.yaml)."""

    vocab_size: int
    phonetic: EncoderConfig = field(default_factory=EncoderConfig)
    acoustic: EncoderConfig = field(default_factory=EncoderConfig)
    subsample: int = 4
    integrator: str = "shared"  # "shared" (one LSTM for both branches) | "separate" | "none" (masked mean)
    integrator_dim: int = 256
    embed_dim: int = 256
    init_logit_scale: float = math.log(1 / 0.07)
    max_logit_scale: float = math.log(100.0)

    def __post_init__(self) -> None:
        if self.integrator not in INTEGRATORS:
            raise ValueError(f"integrator must be one of {INTEGRATORS}, got {self.integrator!r}")


class LSTMIntegrator(nn.Module):
    """Reads a padded sequence with an LSTM; the summary is the hidden state at each item's true last step.

    Gate biases use chrono initialisation (Tallec & Ollivier, 2018): forget bias log(U(1, T - 1)), input bias its
    negative, with T = ``memory`` steps. PyTorch's default (all biases ~0, so forget gates ~0.5) lets the state
    forget half of itself every step: at the start of training the last state only described the last few frames
    (trailing silence, the final full stop), nearly the same for every utterance.
    """

    def __init__(self, in_dim: int, hidden: int, memory: int = 100) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_dim, hidden, batch_first=True)
        with torch.no_grad():  # gate order in PyTorch's LSTM biases: input, forget, cell, output
            self.lstm.bias_hh_l0.zero_()
            self.lstm.bias_ih_l0.zero_()
            forget = torch.empty(hidden).uniform_(1.0, memory - 1.0).log_()
            self.lstm.bias_ih_l0[hidden : 2 * hidden] = forget
            self.lstm.bias_ih_l0[:hidden] = -forget

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x (b, t, d), lengths (b,) -> (b, hidden); positions at or beyond lengths are never read.

        On the CPU the recurrence runs in :func:`scraps.nn.lstm.lstm_last_state` (same weights and result; forward +
        backward 1.1-1.5x faster at width 128 and 2-3x at width 512, ``bench/lstm_integrator.py``); elsewhere in
        ``nn.LSTM`` over packed sequences (cuDNN).
        """
        if x.device.type == "cpu":
            weights = [self.lstm.weight_ih_l0, self.lstm.weight_hh_l0, self.lstm.bias_ih_l0, self.lstm.bias_hh_l0]
            with torch.autocast("cpu", enabled=False):
                h = lstm_last_state(x.to(weights[0].dtype), lengths, *weights)
            return h.to(x.dtype)
        return self.packed(x, lengths)

    def packed(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The same through ``nn.LSTM`` and packed sequences: x (b, t, d), lengths (b,) -> (b, hidden)."""
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)  # h (1, b, hidden), already back in the batch's order
        return h[-1]


class MeanPool(nn.Module):
    """Masked mean over time (the ``integrator: none`` ablation)."""

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x (b, t, d), lengths (b,) -> (b, d) mean over the first lengths[i] steps."""
        valid = ~lengths_to_padding_mask(lengths, x.shape[1])
        return (x * valid[..., None]).sum(1) / lengths[:, None].to(x.dtype)


class ScrapsModel(TextInputMixin, nn.Module):
    """SCRAPS: contrastive phoneme/audio embeddings.

    ``forward`` (and ``embed_mels`` / ``score_mels``) read log-mels, as the TTS model does; ``mels``,
    ``embed_audio`` and ``score`` take 24 kHz waveforms through the model's :class:`MelSpectrogram`.

    State dict layout: ``phonetic_encoder.*`` (reused by the TTS), ``acoustic_encoder.*``,
    ``integrator_in.*`` (only for a shared LSTM over encoders of different widths), ``integrator.*``
    (``shared`` or ``phonetic``/``acoustic``), ``proj.{phonetic,acoustic}.weight`` and ``logit_scale``.
    """

    def __init__(self, config: ScrapsConfig) -> None:
        super().__init__()
        self.config = config
        self.phonetic_encoder = PhoneticEncoder(config.vocab_size, config.phonetic)
        self.acoustic_encoder = AcousticEncoder(N_MELS, config.acoustic, config.subsample)
        self.mel = MelSpectrogram()
        dims = {"phonetic": config.phonetic.dim, "acoustic": config.acoustic.dim}
        # One LSTM over encoders of different widths reads both through a projection to integrator_dim.
        project = config.integrator == "shared" and dims["phonetic"] != dims["acoustic"]
        self.integrator_in = nn.ModuleDict(
            {b: nn.Linear(dims[b], config.integrator_dim) if project else nn.Identity() for b in BRANCHES}
        )
        if project:
            dims = {b: config.integrator_dim for b in BRANCHES}
        if config.integrator == "shared":
            self.integrator = nn.ModuleDict({"shared": LSTMIntegrator(dims["phonetic"], config.integrator_dim)})
            out_dims = {b: config.integrator_dim for b in BRANCHES}
        elif config.integrator == "separate":
            self.integrator = nn.ModuleDict({b: LSTMIntegrator(dims[b], config.integrator_dim) for b in BRANCHES})
            out_dims = {b: config.integrator_dim for b in BRANCHES}
        else:
            self.integrator = nn.ModuleDict({"shared": MeanPool()})
            out_dims = dims
        self.proj = nn.ModuleDict({b: nn.Linear(out_dims[b], config.embed_dim, bias=False) for b in BRANCHES})
        self.logit_scale = nn.Parameter(torch.tensor(float(config.init_logit_scale)))
        # Filled by from_pretrained.
        self.vocab: PhonemeVocab | None = None
        self.frontend_config: dict[str, Any] | None = None
        self.train_config: dict[str, Any] | None = None

    # ----------------------------------------------------------------------------------------------- embeddings
    def _embed(self, branch: str, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.integrator_in[branch](x)
        pool = self.integrator[branch] if branch in self.integrator else self.integrator["shared"]
        return self._project(branch, pool(x, lengths))

    def _project(self, branch: str, h: torch.Tensor) -> torch.Tensor:
        """Integrator summary h (b, hidden) -> L2-normalised embedding (b, e)."""
        return F.normalize(self.proj[branch](h), dim=-1)

    def _embed_pair(
        self, x_p: torch.Tensor, len_p: torch.Tensor, x_a: torch.Tensor, len_a: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both branches' encoder outputs x_p (b, n, d), x_a (b, t, d) -> e_p (b, e), e_a (b, e).

        A shared integrator reads the two branches as one batch of 2b sequences, padded to max(n, t): the
        recurrence takes max(n, t) sequential steps instead of n + t, and one cuDNN call instead of two on a GPU
        (on a CPU the per-step products grow with the batch, so the gain there is small).
        It never reads padding, so the result is the one :meth:`embed_phonemes` and :meth:`embed_audio` give.
        """
        if "shared" not in self.integrator:
            return self._embed("phonetic", x_p, len_p), self._embed("acoustic", x_a, len_a)
        x_p, x_a = self.integrator_in["phonetic"](x_p), self.integrator_in["acoustic"](x_a)
        steps = max(x_p.shape[1], x_a.shape[1])
        x = torch.cat([F.pad(x_p, (0, 0, 0, steps - x_p.shape[1])), F.pad(x_a, (0, 0, 0, steps - x_a.shape[1]))])
        h_p, h_a = self.integrator["shared"](x, torch.cat([len_p, len_a])).split([x_p.shape[0], x_a.shape[0]])
        return self._project("phonetic", h_p), self._project("acoustic", h_a)

    def embed_phonemes(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """ids (b, n) long, lengths (b,) -> L2-normalised phonetic embeddings (b, e)."""
        return self._embed("phonetic", self.phonetic_encoder(ids, lengths), lengths)

    def embed_mels(self, mel: torch.Tensor, mel_lens: torch.Tensor) -> torch.Tensor:
        """mel (b, 100, t) log-mel, mel_lens (b,) -> L2-normalised acoustic embeddings (b, e)."""
        x, lengths = self.acoustic_encoder(mel, mel_lens)
        return self._embed("acoustic", x, lengths)

    def mels(self, wav: torch.Tensor, wav_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """wav (b, samples), wav_lens (b,) -> mel (b, 100, t), mel_lens (b,): see :meth:`MelSpectrogram.batch`."""
        return self.mel.batch(wav, wav_lens)

    def embed_audio(self, wav: torch.Tensor, wav_lens: torch.Tensor) -> torch.Tensor:
        """wav (b, samples) at 24 kHz, wav_lens (b,) -> L2-normalised acoustic embeddings (b, e)."""
        return self.embed_mels(*self.mels(wav, wav_lens))

    def forward(
        self, ids: torch.Tensor, id_lens: torch.Tensor, mel: torch.Tensor, mel_lens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """ids (b, n), id_lens (b,), log-mel (b, 100, t), mel_lens (b,) -> e_p (b, e), e_a (b, e)."""
        x_a, len_a = self.acoustic_encoder(mel, mel_lens)
        return self._embed_pair(self.phonetic_encoder(ids, id_lens), id_lens, x_a, len_a)

    def score(
        self, ids: torch.Tensor, id_lens: torch.Tensor, wav: torch.Tensor, wav_lens: torch.Tensor
    ) -> torch.Tensor:
        """SCRAPS score: cosine of each (phonemes, audio (b, samples) at 24 kHz) pair -> (b,) in [-1, 1]."""
        return self.score_mels(ids, id_lens, *self.mels(wav, wav_lens))

    def score_mels(
        self, ids: torch.Tensor, id_lens: torch.Tensor, mel: torch.Tensor, mel_lens: torch.Tensor
    ) -> torch.Tensor:
        """SCRAPS score of (phonemes, log-mel (b, 100, t)) pairs, e.g. TTS output before vocoding -> (b,)."""
        e_p, e_a = self(ids, id_lens, mel, mel_lens)
        return (e_p * e_a).sum(-1)

    @torch.no_grad()
    def clamp_logit_scale_(self) -> None:
        """Clamp the log temperature to [0, max_logit_scale] in place (call after every optimiser step)."""
        self.logit_scale.clamp_(0.0, self.config.max_logit_scale)

    # ------------------------------------------------------------------------------------------------ export
    def save_pretrained(
        self,
        out_dir: str | Path,
        vocab: PhonemeVocab,
        frontend_config: dict[str, Any] | None = None,
        train_config: dict[str, Any] | None = None,
    ) -> Path:
        """Write a self-describing model directory (config.yaml, model.safetensors, vocab.json)."""
        if len(vocab) != self.config.vocab_size:
            raise ValueError(
                f"vocabulary has {len(vocab)} symbols but the model was built for {self.config.vocab_size}; "
                "save with the vocabulary the model was trained with"
            )
        config = {"model": self.config.to_dict(), "frontend": frontend_config, "train": train_config}
        return save_model_dir(
            out_dir, MODEL_TYPE, config, self.state_dict(), extra_json={"vocab.json": json.loads(vocab.to_json())}
        )

    @classmethod
    def from_pretrained(cls, path: str | Path) -> ScrapsModel:
        """Load a directory written by :meth:`save_pretrained`, in eval mode, with ``.vocab`` and
        ``.frontend_config`` set. Raises :class:`ModelDirError` (one line) for anything else."""
        from scraps.text import PhonemeVocab

        raw, state, extras = load_model_dir(path, MODEL_TYPE)
        try:
            config = ScrapsConfig.from_dict(raw["model"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelDirError(
                f"{path}: incompatible SCRAPS config ({exc}); re-export the model with this version"
            ) from None
        model = cls(config)
        load_weights(model, state, path)
        if "vocab.json" not in extras:
            raise ModelDirError(f"{path}: vocab.json is missing; re-export the model with save_pretrained")
        vocab = PhonemeVocab.from_json(json.dumps(extras["vocab.json"]))
        if len(vocab) != config.vocab_size:
            raise ModelDirError(
                f"{path}: vocab.json has {len(vocab)} symbols but the model expects {config.vocab_size}"
            )
        model.vocab = vocab
        model.frontend_config = raw.get("frontend")
        model.train_config = raw.get("train")
        return model.eval()
