"""The acoustic encoder: a transformer over (subsampled) log-mel frames."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from scraps.audio.features import normalize_mel
from scraps.nn.config import EncoderConfig
from scraps.nn.layers import SinusoidalPositions, TransformerLayer, lengths_to_padding_mask
from scraps.nn.phonetic_encoder import check_lengths

# Fixed input normalisation of the project's log-mel (natural log, floor 1e-7 -> -16.1), applied with
# scraps.audio.normalize_mel. Speech frames lie mostly in -11.5..+3; (x - MEL_MEAN) / MEL_STD maps that range to
# about -2.2..+2.7 (the floor to -3.7).
# Constants rather than data statistics, so that a model never depends on a statistics file.
MEL_MEAN = -5.0
MEL_STD = 3.0

# Strides of the two subsampling convolutions for each supported total factor.
_STRIDES = {1: (1, 1), 2: (2, 1), 4: (2, 2)}


def conv_output_lengths(lengths: torch.Tensor, stride: int) -> torch.Tensor:
    """Valid frames after a kernel-3, padding-1 convolution of ``stride``: ceil(lengths / stride)."""
    return torch.div(lengths - 1, stride, rounding_mode="floor") + 1


class AcousticEncoder(nn.Module):
    """Log-mel frames -> contextual frame vectors at 1/``subsample`` of the frame rate.

    Fixed normalisation (:data:`MEL_MEAN`, :data:`MEL_STD`), two kernel-3 GELU convolutions whose strides give
    ``subsample`` (1, 2 or 4), a LayerNorm on the convolution features, sinusoidal positions, dropout,
    ``cfg.layers`` pre-norm transformer layers with key padding masks, final LayerNorm.

    The LayerNorm before the positions matters: at initialisation the convolutions' output varies across frames
    with a standard deviation of about 0.1 while the sinusoids have about 0.6, so without it every utterance
    looked alike to the transformer (embeddings of different utterances had cosine ~0.8) and contrastive
    training sat on a plateau for hundreds of steps (egs/demo/RESULTS.md, "what made SCRAPS learn faster"). Frames beyond each item's length are zeroed before every convolution,
    so padding never leaks into valid outputs: an item gives the same output alone and inside a padded batch.
    """

    def __init__(self, n_mels: int, cfg: EncoderConfig, subsample: int = 4) -> None:
        super().__init__()
        if subsample not in _STRIDES:
            raise ValueError(f"subsample must be one of {sorted(_STRIDES)}, got {subsample}")
        self.dim = cfg.dim
        self.n_mels = n_mels
        self.strides = _STRIDES[subsample]
        self.convs = nn.ModuleList(
            nn.Conv1d(c_in, cfg.dim, kernel_size=3, stride=s, padding=1)
            for c_in, s in zip((n_mels, cfg.dim), self.strides)
        )
        self.conv_norm = nn.LayerNorm(cfg.dim)
        self.positions = SinusoidalPositions(cfg.dim, cfg.max_len)
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(
            TransformerLayer(cfg.dim, cfg.heads, cfg.ff_mult, cfg.dropout, attn_dropout=cfg.attn_dropout)
            for _ in range(cfg.layers)
        )
        self.norm = nn.LayerNorm(cfg.dim)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """(b,) mel frame counts -> (b,) encoder output frame counts."""
        for s in self.strides:
            lengths = conv_output_lengths(lengths, s)
        return lengths

    def forward(self, mel: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mel (b, n_mels, t) log-mel, lengths (b,) -> x (b, t', d), lengths' (b,).

        t' = ceil(t / subsample) and lengths' = ceil(lengths / subsample); rows of ``x`` beyond lengths' are zero.
        """
        if mel.ndim != 3 or mel.shape[1] != self.n_mels:
            raise ValueError(f"AcousticEncoder expects mel of shape (b, {self.n_mels}, t), got {tuple(mel.shape)}")
        check_lengths(lengths, mel.shape[2], "AcousticEncoder")
        x = normalize_mel(mel, MEL_MEAN, MEL_STD)
        for conv, s in zip(self.convs, self.strides):
            x = x.masked_fill(lengths_to_padding_mask(lengths, x.shape[2])[:, None, :], 0.0)
            x = F.gelu(conv(x))
            lengths = conv_output_lengths(lengths, s)
        x = self.conv_norm(rearrange(x, "b d t -> b t d"))
        padding = lengths_to_padding_mask(lengths, x.shape[1])
        x = self.drop(x + self.positions(x.shape[1]))
        for layer in self.layers:
            x, _ = layer(x, padding)
        return self.norm(x).masked_fill(padding[..., None], 0.0), lengths
