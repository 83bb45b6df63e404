"""Autoregressive transformer acoustic decoder (Transformer-TTS style) with a reduction factor and a KV cache.

One decoder step reads the previous step's last mel frame (a zero "go" frame at the start) through a prenet,
attends causally to the earlier steps and across to the encoder memory, and emits ``r`` mel frames plus one stop
logit. A residual convolutional postnet refines the whole mel afterwards. The decoder works in whatever mel domain
it is trained on (the TTS model feeds it normalised log-mels).

Teacher forcing (:meth:`ARDecoder.forward`) and incremental decoding (:meth:`ARDecoder.init_state` +
:meth:`ARDecoder.step`) run the same layers and agree to float precision.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from scraps.nn.layers import KVCache, SinusoidalPositions, TransformerLayer, lengths_to_padding_mask, padding_bias


@dataclass
class DecoderConfig:
    """Shape of the autoregressive decoder.

    ``reduction`` frames are produced per step. ``prenet_dropout_at_inference`` keeps the prenet's dropout active
    in eval mode too (Tacotron practice: the noise stops the decoder from copying its input and helps it stop).
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
    """

    def __init__(self, n_mels: int, channels: int, layers: int, kernel: int, dropout: float) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"postnet_kernel must be odd to keep the frame count, got {kernel}")
        dims = [n_mels] + [channels] * (layers - 1) + [n_mels]
        self.convs = nn.ModuleList(
            nn.Conv1d(dims[i], dims[i + 1], kernel, padding=kernel // 2) for i in range(layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(channels) for _ in range(layers - 1))
        self.drop = nn.Dropout(dropout)

    def forward(self, mel: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """mel (b, t, n_mels), padding_mask (b, t) True at padding -> refined mel (b, t, n_mels)."""
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
    """Incremental-decoding state of one batch, made once per decode by :meth:`ARDecoder.init_state`.

    Per layer: the cross-attention keys and values (b, h, n, d/h) and a preallocated self-attention
    :class:`KVCache` of ``max_steps`` positions. ``memory_bias`` (b, 1, 1, n) masks padded phonemes (None when
    no item is padded).
    """

    memory_kv: list[tuple[torch.Tensor, torch.Tensor]]
    memory_bias: torch.Tensor | None
    caches: list[KVCache]
    max_steps: int
    step: int = 0
    need_weights: bool = False


class ARDecoder(nn.Module):
    """Autoregressive mel decoder: prenet -> causal self-attn + cross-attn layers -> mel and stop heads -> postnet."""

    def __init__(self, n_mels: int, cfg: DecoderConfig) -> None:
        super().__init__()
        if cfg.reduction < 1:
            raise ValueError(f"decoder reduction must be >= 1, got {cfg.reduction}")
        self.n_mels = n_mels
        self.reduction = cfg.reduction
        self.prenet = Prenet(n_mels, cfg.prenet_dim, cfg.dim, cfg.prenet_dropout, cfg.prenet_dropout_at_inference)
        self.positions = SinusoidalPositions(cfg.dim, cfg.max_len)
        self.layers = nn.ModuleList(
            TransformerLayer(cfg.dim, cfg.heads, cfg.ff_mult, cfg.dropout, cross_attention=True)
            for _ in range(cfg.layers)
        )
        self.norm = nn.LayerNorm(cfg.dim)
        self.mel_head = nn.Linear(cfg.dim, cfg.reduction * n_mels)
        self.stop_head = nn.Linear(cfg.dim, 1)
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

    def decode(
        self,
        inputs: torch.Tensor,
        memory: torch.Tensor,
        memory_padding_mask: torch.Tensor,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor] | None]:
        """Run all steps at once from their inputs, without postnet.

        inputs (b, s, n_mels) (one previous frame per step, see :meth:`shift_targets`), memory (b, n, d),
        memory_padding_mask (b, n) True at padding -> frames (b, s * r, n_mels), stop logits (b, s) and, with
        ``need_weights``, one cross-attention map (b, h, s, n) per layer.
        """
        if inputs.shape[1] > self.max_steps:
            raise ValueError(
                f"{inputs.shape[1]} decoder steps exceed the decoder's max_len {self.max_steps}; "
                "raise decoder.max_len or shorten the utterance"
            )
        x = self.prenet(inputs) + self.positions(inputs.shape[1])
        maps = []
        for layer in self.layers:
            x, w = layer(
                x, causal=True, memory=memory, memory_padding_mask=memory_padding_mask, need_weights=need_weights
            )
            maps.append(w)
        frames, stop = self._heads(x)
        return frames, stop, maps if need_weights else None

    def _heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (b, s, d) -> frames (b, s * r, n_mels), stop logits (b, s)."""
        x = self.norm(x)
        frames = rearrange(self.mel_head(x), "b s (r c) -> b (s r) c", r=self.reduction)
        return frames, rearrange(self.stop_head(x), "b s 1 -> b s")

    def forward(
        self,
        prev: torch.Tensor,
        memory: torch.Tensor,
        memory_lens: torch.Tensor,
        mel_lens: torch.Tensor,
        need_weights: bool = True,
    ) -> dict[str, torch.Tensor | list[torch.Tensor] | None]:
        """Teacher-forced decoding of the targets ``prev`` (b, T, n_mels) over memory (b, n, d).

        ``memory_lens`` (b,) and ``mel_lens`` (b,) give the valid lengths. T need not be a multiple of r: the
        last group is padded internally and outputs are cropped back to T. Returns ``mel`` (b, T, n_mels) before
        and ``mel_post`` (b, T, n_mels) after the postnet, ``stop`` (b, ceil(T / r)) logits and ``attn``: a list
        with one cross-attention map (b, h, ceil(T / r), n) per layer (None without ``need_weights``).
        """
        t = prev.shape[1]
        memory_mask = lengths_to_padding_mask(memory_lens, memory.shape[1])
        frames, stop, attn = self.decode(self.shift_targets(prev), memory, memory_mask, need_weights)
        mel = frames[:, :t]
        mel_post = self.postnet(mel, lengths_to_padding_mask(mel_lens, t))
        return {"mel": mel, "mel_post": mel_post, "stop": stop, "attn": attn}

    def init_state(
        self, memory: torch.Tensor, memory_lens: torch.Tensor, need_weights: bool = False, max_steps: int | None = None
    ) -> DecoderState:
        """Start incremental decoding over memory (b, n, d) with lengths (b,) for at most ``max_steps`` steps
        (default: the decoder's max_len). Cross-attention K/V and the padding mask are made here, once."""
        max_steps = self.max_steps if max_steps is None else max_steps
        if not 1 <= max_steps <= self.max_steps:
            raise ValueError(f"max_steps must lie in 1..{self.max_steps} (the decoder's max_len), got {max_steps}")
        padding = lengths_to_padding_mask(memory_lens, memory.shape[1])
        return DecoderState(
            memory_kv=[layer.cross_attn.project_kv(memory) for layer in self.layers],
            memory_bias=padding_bias(padding, memory.dtype) if bool(padding.any()) else None,
            caches=[layer.self_attn.new_cache(max_steps) for layer in self.layers],
            max_steps=max_steps,
            need_weights=need_weights,
        )

    def step(
        self, prev_frame: torch.Tensor, state: DecoderState
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One decoder step from prev_frame (b, n_mels) (zeros at the start); advances ``state`` in place.

        Returns frames (b, r, n_mels) before the postnet, stop logits (b,) and, when the state was made with
        ``need_weights``, the last layer's cross-attention averaged over heads (b, n).
        """
        if state.step >= state.max_steps:
            raise ValueError(f"decoder step {state.step} exceeds the {state.max_steps} steps its state was made for")
        x = self.prenet(rearrange(prev_frame, "b c -> b 1 c")) + self.positions(1, state.step)
        w = None
        for layer, cache, kv in zip(self.layers, state.caches, state.memory_kv):
            x, w = layer(
                x,
                causal=True,
                cache=cache,
                memory_kv=kv,
                memory_bias=state.memory_bias,
                need_weights=state.need_weights,
            )
        state.step += 1
        frames, stop = self._heads(x)
        attn = None if w is None else w.mean(dim=1)[:, 0]
        return frames, stop[:, 0], attn
