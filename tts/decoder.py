"""Autoregressive transformer acoustic decoder with a reduction factor and a KV cache.

The decoder is told, frame by frame, which phoneme it speaks: the TTS model expands the phoneme vectors to frames
by their durations (:func:`tts.alignment.expand_to_frames`) and hands them in as ``cond`` (b, t, d). One decoder
step reads the previous step's last mel frame (a zero "go" frame at the start) through a prenet, adds the mean
conditioning of the ``r`` frames it is about to emit, attends causally to the earlier steps, and emits those ``r``
frames. Each output frame also gets a linear map of its own conditioning vector (a direct path from the phoneme
to the spectrum, so that the decoder need not learn to carry phoneme identity from its input to its output).
A residual convolutional postnet refines the whole mel afterwards. The decoder works in whatever mel domain it
is trained on (the TTS model feeds it normalised log-mels).

Teacher forcing (:meth:`ARDecoder.forward`) and incremental decoding (:meth:`ARDecoder.init_state` +
:meth:`ARDecoder.step`) run the same layers and agree to float precision.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from scraps.nn.layers import KVCache, SinusoidalPositions, TransformerLayer, lengths_to_padding_mask


@dataclass
class DecoderConfig:
    """Shape of the autoregressive decoder.

    ``reduction`` frames are produced per step. ``prenet_dropout_at_inference`` keeps the prenet's dropout active
    in eval mode too (Tacotron practice: the noise stops the decoder from copying its input).
    """

    dim: int = 256
    layers: int = 4
    heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    reduction: int = 2
    prenet_dim: int = 256
    prenet_dropout: float = 0.5
    prenet_dropout_at_inference: bool = True
    postnet_channels: int = 256
    postnet_layers: int = 5
    postnet_kernel: int = 5
    max_len: int = 4096  # decoder steps (each of ``reduction`` frames)


class Prenet(nn.Module):
    """Two ReLU layers with dropout, then a projection to the model dim: (b, s, n_mels) -> (b, s, d)."""

    def __init__(self, n_mels: int, hidden: int, dim: int, dropout: float, always_dropout: bool) -> None:
        super().__init__()
        self.fc1 = nn.Linear(n_mels, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.proj = nn.Linear(hidden, dim)
        self.dropout = dropout
        self.always_dropout = always_dropout

    @property
    def draws_noise(self) -> bool:
        """Whether a call draws from torch's random number generator (dropout live and non-zero)."""
        return (self.training or self.always_dropout) and self.dropout > 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (b, s, n_mels) -> (b, s, d)."""
        noisy = self.draws_noise
        for fc in (self.fc1, self.fc2):
            x = F.relu(fc(x))
            if noisy:
                x = F.dropout(x, self.dropout)
        return self.proj(x)


class Postnet(nn.Module):
    """Residual stack of 1-D convolutions over the whole mel; padded frames are zeroed before every convolution.

    Zeroing makes a padded item's output equal to the same item decoded alone (a convolution's own zero padding),
    so batched and single synthesis agree. Per-frame LayerNorm (not BatchNorm) keeps padding out of the statistics.
    With ``layers`` 0 there is no postnet: the mel passes unchanged.
    """

    def __init__(self, n_mels: int, channels: int, layers: int, kernel: int, dropout: float) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"postnet_kernel must be odd to keep the frame count, got {kernel}")
        if layers < 0:
            raise ValueError(f"postnet_layers must be >= 0, got {layers}")
        dims = [n_mels] + [channels] * (layers - 1) + [n_mels]
        self.convs = nn.ModuleList(
            nn.Conv1d(dims[i], dims[i + 1], kernel, padding=kernel // 2) for i in range(layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(channels) for _ in range(max(0, layers - 1)))
        self.drop = nn.Dropout(dropout)

    def forward(self, mel: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """mel (b, t, n_mels), padding_mask (b, t) True at padding -> refined mel (b, t, n_mels)."""
        if not self.convs:
            return mel
        keep = None if padding_mask is None else rearrange(~padding_mask, "b t -> b 1 t").to(mel.dtype)
        x = rearrange(mel, "b t c -> b c t")
        for i, conv in enumerate(self.convs):
            if keep is not None:
                x = x * keep
            x = conv(x)
            if i < len(self.norms):
                x = rearrange(self.norms[i](rearrange(x, "b c t -> b t c")), "b t c -> b c t")
                x = self.drop(torch.tanh(x))
        return mel + rearrange(x, "b c t -> b t c")


@dataclass
class DecoderState:
    """Incremental-decoding state of one batch, made once per decode by :meth:`ARDecoder.init_state`: a
    preallocated self-attention :class:`KVCache` of ``max_steps`` positions per layer."""

    caches: list[KVCache]
    max_steps: int
    step: int = 0


def group_frames(x: torch.Tensor, reduction: int) -> torch.Tensor:
    """Per-frame vectors (b, t, d) -> per-step means (b, ceil(t / r), d); a last, partial group is zero-padded
    before the mean (padding frames carry zero conditioning anyway)."""
    steps = -(-x.shape[1] // reduction)
    x = F.pad(x, (0, 0, 0, steps * reduction - x.shape[1]))
    return rearrange(x, "b (s r) d -> b s r d", r=reduction).mean(dim=2)


class ARDecoder(nn.Module):
    """Autoregressive mel decoder: prenet + conditioning -> causal self-attention layers -> mel head -> postnet."""

    def __init__(self, n_mels: int, cfg: DecoderConfig) -> None:
        super().__init__()
        if cfg.reduction < 1:
            raise ValueError(f"decoder reduction must be >= 1, got {cfg.reduction}")
        self.n_mels = n_mels
        self.reduction = cfg.reduction
        self.prenet = Prenet(n_mels, cfg.prenet_dim, cfg.dim, cfg.prenet_dropout, cfg.prenet_dropout_at_inference)
        self.cond_proj = nn.Linear(cfg.dim, cfg.dim)
        self.positions = SinusoidalPositions(cfg.dim, cfg.max_len)
        self.layers = nn.ModuleList(
            TransformerLayer(cfg.dim, cfg.heads, cfg.ff_mult, cfg.dropout) for _ in range(cfg.layers)
        )
        self.norm = nn.LayerNorm(cfg.dim)
        self.mel_head = nn.Linear(cfg.dim, cfg.reduction * n_mels)
        self.skip_head = nn.Linear(cfg.dim, n_mels)
        self.postnet = Postnet(n_mels, cfg.postnet_channels, cfg.postnet_layers, cfg.postnet_kernel, cfg.dropout)

    @property
    def max_steps(self) -> int:
        """Longest decode in steps (``reduction`` frames each) that the position table covers."""
        return self.positions.table.shape[0]

    def shift_targets(self, targets: torch.Tensor) -> torch.Tensor:
        """Teacher-forcing inputs: targets (b, T, n_mels) -> (b, ceil(T / r), n_mels).

        Step 0 reads a zero "go" frame, step g the last frame of group g - 1 (frame g * r - 1).
        """
        steps = -(-targets.shape[1] // self.reduction)
        go = targets.new_zeros(targets.shape[0], 1, targets.shape[2])
        last_of_groups = targets[:, self.reduction - 1 :: self.reduction][:, : steps - 1]
        return torch.cat([go, last_of_groups], dim=1)

    def decode(self, inputs: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Run all steps at once, without postnet: inputs (b, s, n_mels) (one previous frame per step, see
        :meth:`shift_targets`), cond (b, t, d) per-frame conditioning with t <= s * r -> frames (b, t, n_mels)."""
        s = inputs.shape[1]
        if s > self.max_steps:
            raise ValueError(
                f"{s} decoder steps exceed the decoder's max_len {self.max_steps}; "
                "raise decoder.max_len or shorten the utterance"
            )
        x = self.prenet(inputs) + self.cond_proj(group_frames(cond, self.reduction)) + self.positions(s)
        for layer in self.layers:
            x, _ = layer(x, causal=True)
        return self._heads(x, cond)

    def _heads(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (b, s, d), cond (b, t, d) with t <= s * r -> frames (b, t, n_mels)."""
        frames = rearrange(self.mel_head(self.norm(x)), "b s (r c) -> b (s r) c", r=self.reduction)
        return frames[:, : cond.shape[1]] + self.skip_head(cond)

    def forward(self, prev: torch.Tensor, cond: torch.Tensor, mel_lens: torch.Tensor) -> dict[str, torch.Tensor]:
        """Teacher-forced decoding of the targets ``prev`` (b, T, n_mels) with conditioning cond (b, T, d).

        ``mel_lens`` (b,) gives the valid lengths. T need not be a multiple of r: the last group is padded
        internally and outputs are cropped back to T. Returns ``mel`` (b, T, n_mels) before and ``mel_post``
        (b, T, n_mels) after the postnet.
        """
        t = prev.shape[1]
        if cond.shape[:2] != prev.shape[:2]:
            raise ValueError(f"cond must have shape (b, {t}, d) like the targets, got {tuple(cond.shape)}")
        mel = self.decode(self.shift_targets(prev), cond)
        mel_post = self.postnet(mel, lengths_to_padding_mask(mel_lens, t))
        return {"mel": mel, "mel_post": mel_post}

    def init_state(self, max_steps: int | None = None) -> DecoderState:
        """Start incremental decoding for at most ``max_steps`` steps (default: the decoder's max_len)."""
        max_steps = self.max_steps if max_steps is None else max_steps
        if not 1 <= max_steps <= self.max_steps:
            raise ValueError(f"max_steps must lie in 1..{self.max_steps} (the decoder's max_len), got {max_steps}")
        return DecoderState(caches=[layer.self_attn.new_cache(max_steps) for layer in self.layers], max_steps=max_steps)

    def step(self, prev_frame: torch.Tensor, cond: torch.Tensor, state: DecoderState) -> torch.Tensor:
        """One decoder step from prev_frame (b, n_mels) (zeros at the start) and the conditioning of the step's
        frames, cond (b, r, d); advances ``state`` in place. Returns frames (b, r, n_mels) before the postnet."""
        if state.step >= state.max_steps:
            raise ValueError(f"decoder step {state.step} exceeds the {state.max_steps} steps its state was made for")
        x = (
            self.prenet(rearrange(prev_frame, "b c -> b 1 c"))
            + self.cond_proj(group_frames(cond, self.reduction))
            + self.positions(1, state.step)
        )
        for layer, cache in zip(self.layers, state.caches):
            x, _ = layer(x, causal=True, cache=cache)
        state.step += 1
        return self._heads(x, cond)
