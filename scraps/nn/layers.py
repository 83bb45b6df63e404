"""Transformer building blocks shared by the SCRAPS encoders and the TTS decoder.

One attention implementation serves every use: bidirectional self-attention with key padding (encoders),
causal self-attention with an optional KV cache (incremental decoding), and cross-attention over a memory whose
keys and values can be projected once and reused.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def lengths_to_padding_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """(b,) lengths -> (b, t) bool mask, True at padding positions."""
    t = int(lengths.max()) if max_len is None else max_len
    return torch.arange(t, device=lengths.device)[None, :] >= lengths[:, None]


@dataclass
class KVCache:
    """Keys and values of one attention layer, (b, h, s, dh) each; grows by one step per decode call."""

    k: torch.Tensor | None = None
    v: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.k is None else self.k.shape[2]

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.k = k if self.k is None else torch.cat([self.k, k], dim=2)
        self.v = v if self.v is None else torch.cat([self.v, v], dim=2)
        return self.k, self.v


class MultiHeadAttention(nn.Module):
    """Multi-head attention on ``F.scaled_dot_product_attention`` with padding, causality and a KV cache."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, kv_dim: int | None = None) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.dropout = dropout
        self.q_proj = nn.Linear(dim, dim)
        self.kv_proj = nn.Linear(kv_dim or dim, 2 * dim)
        self.out_proj = nn.Linear(dim, dim)

    def project_kv(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """source (b, s, d_kv) -> keys, values, each (b, h, s, d/h)."""
        k, v = rearrange(self.kv_proj(source), "b s (two h e) -> two b h s e", two=2, h=self.heads)
        return k, v

    def forward(
        self,
        x: torch.Tensor,
        source: torch.Tensor | None = None,
        *,
        key_padding_mask: torch.Tensor | None = None,
        causal: bool = False,
        kv: tuple[torch.Tensor, torch.Tensor] | None = None,
        cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from queries ``x`` (b, t, d).

        Keys/values come from ``kv`` (precomputed, (b, h, s, d/h)), else from ``source`` (b, s, d_kv)
        (cross-attention), else from ``x`` (self-attention, appended to ``cache`` when one is given).
        ``key_padding_mask`` (b, s) is True at padded keys. ``causal`` lets query i (at absolute position
        cache_length + i) see keys 0..cache_length + i. Returns (b, t, d) and, with ``need_weights``,
        the attention probabilities (b, h, t, s).
        """
        q = rearrange(self.q_proj(x), "b t (h e) -> b h t e", h=self.heads)
        offset = 0
        if kv is not None:
            k, v = kv
        elif source is not None:
            k, v = self.project_kv(source)
        else:
            k, v = self.project_kv(x)
            if cache is not None:
                offset = cache.length
                k, v = cache.append(k, v)
        t, s = q.shape[2], k.shape[2]
        mask = None  # bool, True = may attend; broadcast to (b, h, t, s)
        if key_padding_mask is not None:
            mask = ~key_padding_mask[:, None, None, :]
        if causal and (t > 1 or offset == 0):
            pos_q = torch.arange(t, device=x.device)[:, None] + offset
            allowed = torch.arange(s, device=x.device)[None, :] <= pos_q
            mask = allowed if mask is None else mask & allowed
        p = self.dropout if self.training else 0.0
        if need_weights:
            scores = torch.einsum("bhte,bhse->bhts", q, k) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(dim=-1)
            out = torch.einsum("bhts,bhse->bhte", F.dropout(weights, p, self.training), v)
        else:
            weights = None
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.out_proj(rearrange(out, "b h t e -> b t (h e)")), weights


class FeedForward(nn.Module):
    """Position-wise MLP: (b, t, d) -> (b, t, d)."""

    def __init__(self, dim: int, mult: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, dim * mult), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim * mult, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (b, t, d) -> (b, t, d)."""
        return self.net(x)


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer: self-attention, optional cross-attention, feed-forward."""

    def __init__(
        self, dim: int, heads: int, ff_mult: int = 4, dropout: float = 0.1, cross_attention: bool = False
    ) -> None:
        super().__init__()
        self.self_norm = nn.LayerNorm(dim)
        self.self_attn = MultiHeadAttention(dim, heads, dropout)
        self.cross_norm = nn.LayerNorm(dim) if cross_attention else None
        self.cross_attn = MultiHeadAttention(dim, heads, dropout) if cross_attention else None
        self.ff_norm = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, ff_mult, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
        *,
        causal: bool = False,
        cache: KVCache | None = None,
        memory_kv: tuple[torch.Tensor, torch.Tensor] | None = None,
        memory: torch.Tensor | None = None,
        memory_padding_mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (b, t, d) -> (b, t, d) and, with cross-attention and ``need_weights``, weights (b, h, t, s).

        ``padding_mask`` (b, t) masks padded keys in self-attention; ``memory`` (b, s, d) or its precomputed
        ``memory_kv`` feeds cross-attention, with ``memory_padding_mask`` (b, s).
        """
        h = self.self_norm(x)
        x = x + self.drop(self.self_attn(h, key_padding_mask=padding_mask, causal=causal, cache=cache)[0])
        weights = None
        if self.cross_attn is not None:
            h = self.cross_norm(x)
            out, weights = self.cross_attn(
                h, memory, key_padding_mask=memory_padding_mask, kv=memory_kv, need_weights=need_weights
            )
            x = x + self.drop(out)
        x = x + self.drop(self.ff(self.ff_norm(x)))
        return x, weights


class SinusoidalPositions(nn.Module):
    """Fixed sinusoidal position table scaled by a learnable scalar (as in Transformer-TTS)."""

    def __init__(self, dim: int, max_len: int = 8192) -> None:
        super().__init__()
        pos = torch.arange(max_len, dtype=torch.float32)[:, None]
        inv = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
        table = torch.zeros(max_len, dim)
        table[:, 0::2] = torch.sin(pos * inv)
        table[:, 1::2] = torch.cos(pos * inv)
        self.register_buffer("table", table, persistent=False)
        self.alpha = nn.Parameter(torch.ones(1))

    def forward(self, length: int, offset: int = 0) -> torch.Tensor:
        """-> (length, d) positions offset..offset+length-1, scaled by alpha."""
        if offset + length > self.table.shape[0]:
            raise ValueError(
                f"sequence of {offset + length} positions exceeds the model's max_len {self.table.shape[0]}"
            )
        return self.alpha * self.table[offset : offset + length]
