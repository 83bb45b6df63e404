"""Evaluation of SCRAPS embeddings: retrieval among a set of (phonemes, audio) pairs."""
from __future__ import annotations

import torch


def similarity(e_p: torch.Tensor, e_a: torch.Tensor) -> torch.Tensor:
    """L2-normalised e_p (n, e), e_a (n, e) -> cosine matrix (n, n); row i = phonemes i against every audio."""
    return e_p.float() @ e_a.float().T


def ranks(sim: torch.Tensor) -> torch.Tensor:
    """(n, n) similarities -> (n,) 1-based rank of the true match (the diagonal) in each row."""
    true = sim.diagonal()[:, None]
    return (sim > true).sum(dim=1) + 1


def retrieval_metrics(e_p: torch.Tensor, e_a: torch.Tensor) -> dict[str, dict[str, float]]:
    """Recall@1, recall@5 and median rank in both directions: p2a (phonemes -> audio) and a2p.

    e_p, e_a: (n, e) L2-normalised embeddings of n matching pairs.
    """
    sim = similarity(e_p, e_a)
    out = {}
    for name, s in (("p2a", sim), ("a2p", sim.T)):
        r = ranks(s).float()
        out[name] = {
            "r1": float((r <= 1).float().mean()),
            "r5": float((r <= 5).float().mean()),
            "median_rank": float(r.median()),
        }
    return out
