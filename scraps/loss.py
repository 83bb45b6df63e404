"""Symmetric InfoNCE (CLIP-style) loss between phonetic and acoustic embeddings.

Under torch.distributed (world size > 1) the embeddings of every rank are gathered WITH gradient, so each rank
computes the loss of the global batch, with all other ranks' items as negatives. Every rank then holds the
gradient of that global loss w.r.t. its own embeddings multiplied by the world size (the gather's backward sums
the gradients of all ranks' identical losses); DDP's gradient averaging divides it back, so training equals one
process on the concatenated batch.
"""
from __future__ import annotations

import hashlib

import torch
import torch.distributed as dist
import torch.nn.functional as F


def _key_ids(keys: list[str], device: torch.device) -> torch.Tensor:
    """Stable 63-bit hashes of the keys (the same in every process, unlike ``hash``) -> (b,) int64."""
    ids = [int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(), "little") >> 1 for k in keys]
    return torch.tensor(ids, dtype=torch.int64, device=device)


class _AllGatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums every rank's gradient for this rank's slice with an all_reduce.

    (torch.distributed.nn.functional.all_gather emulates reduce-scatter with all-to-all off NCCL, which gloo
    lacks; all_reduce works on every backend and the tensors here are small.)
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return tuple(parts)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor) -> torch.Tensor:
        g = torch.stack(grads)
        dist.all_reduce(g)
        return g[dist.get_rank()]


def _gather(x: torch.Tensor, sizes: list[int], with_grad: bool) -> torch.Tensor:
    """Concatenate (b_r, ...) tensors of all ranks (b_r may differ) -> (sum b_r, ...)."""
    pad = max(sizes) - x.shape[0]
    x = F.pad(x, (0, 0) * (x.ndim - 1) + (0, pad))
    if with_grad:
        parts = _AllGatherWithGrad.apply(x)
    else:
        parts = [torch.empty_like(x) for _ in sizes]
        dist.all_gather(parts, x)
    return torch.cat([p[:n] for p, n in zip(parts, sizes)])


def contrastive_loss(
    e_p: torch.Tensor,
    e_a: torch.Tensor,
    logit_scale: torch.Tensor,
    phoneme_keys: list[str] | None = None,
    gather: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Symmetric cross-entropy over ``logit_scale.exp() * e_p @ e_a.T``.

    With ``gather`` (training) and torch.distributed running with several ranks, every rank's embeddings are
    negatives; ``gather=False`` keeps the loss local (e.g. validation on the main process alone).

    e_p, e_a (b, e) phonetic and acoustic embeddings of matching pairs (normalised here again, in float32);
    logit_scale () the log temperature; phoneme_keys (b,) optional phoneme strings: pairs with equal keys are
    not negatives of each other (their off-diagonal logits are masked with -inf).
    Returns the scalar loss and stats: ``pos_cos`` / ``neg_cos`` (mean cosine of positives / of unmasked
    negatives; NaN when there are none), ``logit_scale`` (the exp), ``acc_p2a`` / ``acc_a2p`` (fraction of
    rows / columns whose best match is the positive).
    """
    if e_p.shape != e_a.shape or e_p.ndim != 2:
        raise ValueError(f"contrastive_loss needs two (b, e) tensors of one shape, got {e_p.shape} and {e_a.shape}")
    if phoneme_keys is not None and len(phoneme_keys) != e_p.shape[0]:
        raise ValueError(f"contrastive_loss got {len(phoneme_keys)} phoneme_keys for a batch of {e_p.shape[0]}")
    with torch.autocast(device_type=e_p.device.type, enabled=False):
        e_p = F.normalize(e_p.float(), dim=-1)
        e_a = F.normalize(e_a.float(), dim=-1)
        keys = None if phoneme_keys is None else _key_ids(phoneme_keys, e_p.device)
        if gather and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            local = torch.tensor([e_p.shape[0]], device=e_p.device)
            all_sizes = [torch.empty_like(local) for _ in range(dist.get_world_size())]
            dist.all_gather(all_sizes, local)
            sizes = [int(n) for n in all_sizes]
            e_p, e_a = _gather(e_p, sizes, True), _gather(e_a, sizes, True)
            if keys is not None:
                keys = _gather(keys[:, None], sizes, False)[:, 0]
        cos = e_p @ e_a.T
        logits = logit_scale.float().exp() * cos
        n = cos.shape[0]
        eye = torch.eye(n, dtype=torch.bool, device=cos.device)
        negatives = ~eye
        if keys is not None:
            negatives &= keys[:, None] != keys[None, :]
            logits = logits.masked_fill(~(negatives | eye), float("-inf"))
        target = torch.arange(n, device=cos.device)
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    with torch.no_grad():
        values = torch.stack([
            cos.diagonal().mean(),
            (cos * negatives).sum() / negatives.sum(),  # 0 / 0 = NaN without negatives
            logit_scale.detach().float().exp(),
            (logits.argmax(1) == target).float().mean(),
            (logits.argmax(0) == target).float().mean(),
        ]).tolist()  # one device sync for all stats
    stats = dict(zip(("pos_cos", "neg_cos", "logit_scale", "acc_p2a", "acc_a2p"), values))
    return loss, stats
