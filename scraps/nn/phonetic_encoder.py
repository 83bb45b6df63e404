"""The phonetic encoder: a transformer over phoneme ids.

SCRAPS trains it contrastively; the TTS reuses this exact class and can be initialised by copying the
``phonetic_encoder.*`` tensors of a SCRAPS export.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from scraps.nn.config import EncoderConfig
from scraps.nn.layers import SinusoidalPositions, TransformerLayer, lengths_to_padding_mask


def check_lengths(lengths: torch.Tensor, max_len: int, where: str) -> None:
    """Raise a one-line ValueError unless every length is in 1..max_len (the padded size of the batch)."""
    if lengths.ndim != 1:
        raise ValueError(f"{where}: lengths must have shape (b,), got {tuple(lengths.shape)}")
    if lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > max_len):
        raise ValueError(
            f"{where}: lengths must lie in 1..{max_len} (the padded length), got "
            f"{int(lengths.min())}..{int(lengths.max())}; drop empty items or fix the collate step"
        )


class PhoneticEncoder(nn.Module):
    """Phoneme ids -> contextual phoneme vectors.

    Embedding (initialised with std d^-1/2 and scaled by sqrt(d), so it enters at unit scale), sinusoidal
    positions, dropout, ``cfg.layers`` pre-norm transformer layers with key padding masks, final LayerNorm.
    Outputs at padded positions are zero.
    """

    def __init__(self, vocab_size: int, cfg: EncoderConfig, pad_id: int = 0) -> None:
        super().__init__()
        if not 0 <= pad_id < vocab_size:
            raise ValueError(f"pad_id {pad_id} is outside the vocabulary of {vocab_size} symbols")
        self.dim = cfg.dim
        self.max_len = cfg.max_len  # the longest id sequence it reads
        self.embed = nn.Embedding(vocab_size, cfg.dim, padding_idx=pad_id)
        nn.init.normal_(self.embed.weight, std=cfg.dim**-0.5)
        with torch.no_grad():
            self.embed.weight[pad_id].zero_()
        self.embed_scale = math.sqrt(cfg.dim)
        self.positions = SinusoidalPositions(cfg.dim, cfg.max_len)
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(
            TransformerLayer(cfg.dim, cfg.heads, cfg.ff_mult, cfg.dropout, attn_dropout=cfg.attn_dropout)
            for _ in range(cfg.layers)
        )
        self.norm = nn.LayerNorm(cfg.dim)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """ids (b, n) long, lengths (b,) -> (b, n, d); rows beyond each length are zero."""
        n = ids.shape[1]
        check_lengths(lengths, n, "PhoneticEncoder")
        padding = lengths_to_padding_mask(lengths, n)
        x = self.embed(ids) * self.embed_scale + self.positions(n)
        x = self.drop(x)
        for layer in self.layers:
            x, _ = layer(x, padding)
        return self.norm(x).masked_fill(padding[..., None], 0.0)
