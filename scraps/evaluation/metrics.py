"""Figures computed from SCRAPS embeddings and scores: cosine matrices, retrieval ranks and recalls, the change of
scores under a corruption, word error rate and Spearman correlation. Pure functions of tensors and strings."""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch

RETRIEVAL_WAY = 32
_REL_EPS = 1e-6  # floor of |old score| in a relative change


def similarity(e_p: torch.Tensor, e_a: torch.Tensor) -> torch.Tensor:
    """L2-normalised e_p (n, e), e_a (n, e) -> cosine matrix (n, n); row i = phonemes i against every audio."""
    return e_p.float() @ e_a.float().T


def pair_scores(e_p: torch.Tensor, e_a: torch.Tensor) -> torch.Tensor:
    """L2-normalised e_p (n, e), e_a (n, e) -> (n,) SCRAPS score of each pair (the diagonal of ``similarity``)."""
    return (e_p.float() * e_a.float()).sum(-1)


def ranks(sim: torch.Tensor) -> torch.Tensor:
    """(n, n) similarities -> (n,) 1-based rank of the true match (the diagonal) in each row."""
    true = sim.diagonal()[:, None]
    return (sim > true).sum(dim=1) + 1


def _rank_summary(r: torch.Tensor) -> dict[str, float]:
    r = r.float()
    return {
        "r1": float((r <= 1).float().mean()),
        "r5": float((r <= 5).float().mean()),
        "median_rank": float(r.median()),
    }


def retrieval_metrics(e_p: torch.Tensor, e_a: torch.Tensor) -> dict[str, dict[str, float]]:
    """Recall@1, recall@5 and median rank in both directions: p2a (phonemes -> audio) and a2p.

    e_p, e_a: (n, e) L2-normalised embeddings of n matching pairs.
    """
    sim = similarity(e_p, e_a)
    return {"p2a": _rank_summary(ranks(sim)), "a2p": _rank_summary(ranks(sim.T))}


def subset_retrieval_metrics(
    e_p: torch.Tensor, e_a: torch.Tensor, way: int = RETRIEVAL_WAY, generator: torch.Generator | None = None
) -> dict[str, dict[str, float]]:
    """Like :func:`retrieval_metrics`, but each query i competes with its match and ``way - 1`` random others.

    e_p, e_a: (n, e). The distractors of query i are drawn without replacement from the n - 1 other items (all
    of them when n < way) and serve both directions.
    """
    n = e_p.shape[0]
    k = min(way, n) - 1
    sim = similarity(e_p, e_a)
    others = torch.stack([torch.randperm(n - 1, generator=generator)[:k] for _ in range(n)])  # (n, k)
    others = others + (others >= torch.arange(n)[:, None]).long()  # skip the query itself
    true = sim.diagonal()[:, None]
    p2a = (sim.gather(1, others) > true).sum(1) + 1
    a2p = (sim.T.gather(1, others) > true).sum(1) + 1
    return {"p2a": _rank_summary(p2a), "a2p": _rank_summary(a2p)}


def score_changes(new: torch.Tensor, old: torch.Tensor) -> dict[str, float]:
    """(n,) scores after a corruption against the (n,) clean ones -> fell, rose, mean relative change, mean, std."""
    relative = (new - old) / old.abs().clamp(min=_REL_EPS)
    return {
        "fell": float((new < old).float().mean()),
        "rose": float((new > old).float().mean()),
        "mean_relative_change": float(relative.mean()),
        "mean_score": float(new.mean()),
        "std_score": float(new.std(unbiased=False)),
    }


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9']+", " ", text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance / reference words (lower-cased, punctuation dropped); may exceed 1."""
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(len(ref), 1)


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
    ends = np.r_[starts[1:], len(x)]
    out = np.empty(len(x))
    for s, e in zip(starts, ends):
        out[order[s:e]] = (s + e + 1) / 2  # mean of the 1-based ranks s+1..e
    return out


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman rank correlation (ties get average ranks); None when either side is constant."""
    rx, ry = _average_ranks(np.asarray(x, float)), _average_ranks(np.asarray(y, float))
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])
