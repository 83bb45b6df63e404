"""Transformer building blocks shared by the SCRAPS encoders and the TTS decoder.

One attention implementation serves every use: bidirectional self-attention with key padding (encoders),
causal self-attention with an optional KV cache (incremental decoding), and cross-attention over a memory whose
keys and values can be projected once and reused.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def lengths_to_padding_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """(b,) lengths -> (b, t) bool mask, True at padding positions."""
    t = int(lengths.max()) if max_len is None else max_len
    return torch.arange(t, device=lengths.device)[None, :] >= lengths[:, None]


def padding_bias(padding_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(b, s) bool mask, True at padded keys -> (b, 1, 1, s) additive attention bias: 0, or -inf at padding.

    The form attention uses internally; compute it once when the same keys are attended many times.
    """
    bias = torch.zeros(padding_mask.shape, dtype=dtype, device=padding_mask.device)
    return rearrange(bias.masked_fill(padding_mask, float("-inf")), "b s -> b 1 1 s")


class KVCache:
    """State of one self-attention layer during incremental decoding; made by :meth:`MultiHeadAttention.new_cache`.

    Keys and values, (b, h, s, dh) each, live in storage for ``capacity`` positions (the longest sequence the
    decode may reach), allocated at the first :meth:`append` and written in place: attention reads the filled
    prefix and nothing is copied as it grows. ``in_proj`` is the layer's query, key and value projection fused into
    one (weight (3d, d), bias (3d,)), so that a step projects with one matrix product; it is copied when the cache
    is made (a decode does not change the weights). It is None when the projections are not ``nn.Linear`` (e.g.
    dynamically quantised ones, which have no float weight to fuse): each step then calls them.
    """

    def __init__(self, capacity: int, in_proj: tuple[torch.Tensor, torch.Tensor] | None) -> None:
        if capacity < 1:
            raise ValueError(f"KV cache capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.in_proj = in_proj
        self.length = 0
        self._k: torch.Tensor | None = None
        self._v: torch.Tensor | None = None

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """k, v (b, h, t, dh) -> every key and value so far, (b, h, length + t, dh) each (views of the storage)."""
        start, end = self.length, self.length + k.shape[2]
        if end > self.capacity:
            raise ValueError(f"KV cache of {self.capacity} positions cannot hold {end}; allocate a larger one")
        if self._k is None:
            b, h, _, e = k.shape
            self._k = k.new_empty(b, h, self.capacity, e)
            self._v = v.new_empty(b, h, self.capacity, e)
        self._k[:, :, start:end] = k
        self._v[:, :, start:end] = v
        self.length = end
        return self._k[:, :, :end], self._v[:, :, :end]


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

    def new_cache(self, capacity: int) -> KVCache:
        """An empty :class:`KVCache` for incremental self-attention over at most ``capacity`` positions."""
        if not (isinstance(self.q_proj, nn.Linear) and isinstance(self.kv_proj, nn.Linear)):
            return KVCache(capacity, None)  # e.g. int8 (torch.ao.quantization.quantize_dynamic): nothing to fuse
        weight = torch.cat([self.q_proj.weight, self.kv_proj.weight])
        return KVCache(capacity, (weight, torch.cat([self.q_proj.bias, self.kv_proj.bias])))

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
        key_bias: torch.Tensor | None = None,
        causal: bool = False,
        kv: tuple[torch.Tensor, torch.Tensor] | None = None,
        cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from queries ``x`` (b, t, d).

        Keys/values come from ``kv`` (precomputed, (b, h, s, d/h)), else from ``source`` (b, s, d_kv)
        (cross-attention), else from ``x`` (self-attention, appended to ``cache`` when one is given).
        ``key_padding_mask`` (b, s) is True at padded keys; ``key_bias`` (b, 1, 1, s) is the same mask made once
        with :func:`padding_bias` (give one or neither). ``causal`` lets query i (at absolute position
        cache_length + i) see keys 0..cache_length + i. Returns (b, t, d) and, with ``need_weights``,
        the attention probabilities (b, h, t, s).
        """
        offset = 0
        incremental = cache is not None and kv is None and source is None  # self-attention through the cache
        if incremental and cache.in_proj is not None:  # one fused q/k/v projection
            qkv = F.linear(x, *cache.in_proj)
            q, k, v = rearrange(qkv, "b t (three h e) -> three b h t e", three=3, h=self.heads)
        else:  # also incremental decoding with projections that have no fused weight (int8)
            q = rearrange(self.q_proj(x), "b t (h e) -> b h t e", h=self.heads)
            k, v = kv if kv is not None else self.project_kv(x if source is None else source)
        if incremental:
            offset = cache.length
            k, v = cache.append(k, v)
        t, s = q.shape[2], k.shape[2]
        # True = may attend (bool), or an additive bias (float); broadcast to (b, h, t, s)
        mask = key_bias if key_padding_mask is None else ~key_padding_mask[:, None, None, :]
        if mask is not None and mask.dtype not in (torch.bool, q.dtype):  # e.g. a float32 bias under autocast
            mask = mask.to(q.dtype)
        if causal and s > offset + 1:  # some key lies in a query's future (never in a one-query decoding step)
            pos_q = torch.arange(t, device=x.device)[:, None] + offset
            allowed = torch.arange(s, device=x.device)[None, :] <= pos_q
            if mask is None:
                mask = allowed
            else:
                mask = mask & allowed if mask.dtype == torch.bool else mask.masked_fill(~allowed, float("-inf"))
        p = self.dropout if self.training else 0.0
        if need_weights:
            scores = torch.einsum("bhte,bhse->bhts", q, k) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
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
        up, act, drop, down = self.net
        h = act(up(x))
        return down(drop(h) if self.training else h)


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer: self-attention, optional cross-attention, feed-forward.

    ``dropout`` applies to the residual branches and inside the feed-forward; ``attn_dropout`` to the attention
    weights (None: ``dropout``).
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        ff_mult: int = 4,
        dropout: float = 0.1,
        cross_attention: bool = False,
        attn_dropout: float | None = None,
    ) -> None:
        super().__init__()
        attn_p = dropout if attn_dropout is None else attn_dropout
        self.self_norm = nn.LayerNorm(dim)
        self.self_attn = MultiHeadAttention(dim, heads, attn_p)
        self.cross_norm = nn.LayerNorm(dim) if cross_attention else None
        self.cross_attn = MultiHeadAttention(dim, heads, attn_p) if cross_attention else None
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
        memory_bias: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (b, t, d) -> (b, t, d) and, with cross-attention and ``need_weights``, weights (b, h, t, s).

        ``padding_mask`` (b, t) masks padded keys in self-attention; ``memory`` (b, s, d) or its precomputed
        ``memory_kv`` feeds cross-attention, with ``memory_padding_mask`` (b, s) or, made once by
        :func:`padding_bias`, ``memory_bias`` (b, 1, 1, s).
        """
        h = self.self_norm(x)
        x = x + self._drop(self.self_attn(h, key_padding_mask=padding_mask, causal=causal, cache=cache)[0])
        weights = None
        if self.cross_attn is not None:
            h = self.cross_norm(x)
            out, weights = self.cross_attn(
                h,
                memory,
                key_padding_mask=memory_padding_mask,
                key_bias=memory_bias,
                kv=memory_kv,
                need_weights=need_weights,
            )
            x = x + self._drop(out)
        return x + self._drop(self.ff(self.ff_norm(x))), weights

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        """Residual-branch dropout; no call at all in eval mode (a decoding step makes thousands)."""
        return self.drop(x) if self.training else x


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
