"""Contrastive loss: hand-computed values, duplicate masking, float32 under autocast, and 2-rank gathering."""
from __future__ import annotations

import math
import os
import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from scraps.loss import contrastive_loss

# Unit vectors with cosines C = e_p @ e_a.T = [[1, .6, 0], [0, .8, 1], [.6, 1, .8]].
E_P = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
E_A = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
LN2 = math.log(2.0)  # logit scale: logits = 2 * C


def lse(*xs: float) -> float:
    return math.log(sum(math.exp(x) for x in xs))


def test_hand_computed_3x3():
    rows = [-2 + lse(2, 1.2, 0), -1.6 + lse(0, 1.6, 2), -1.6 + lse(1.2, 2, 1.6)]
    cols = [-2 + lse(2, 0, 1.2), -1.6 + lse(1.2, 1.6, 2), -1.6 + lse(0, 2, 1.6)]
    expected = 0.5 * (sum(rows) / 3 + sum(cols) / 3)
    # scaled inputs: the loss normalises them itself
    loss, stats = contrastive_loss(3 * E_P, 0.5 * E_A, torch.tensor(LN2))
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert stats["pos_cos"] == pytest.approx(2.6 / 3, abs=1e-6)
    assert stats["neg_cos"] == pytest.approx(3.2 / 6, abs=1e-6)
    assert stats["logit_scale"] == pytest.approx(2.0)
    assert stats["acc_p2a"] == pytest.approx(1 / 3) and stats["acc_a2p"] == pytest.approx(1 / 3)


def test_equal_phoneme_strings_are_not_negatives():
    keys = ["a b", "c", "a b"]  # items 0 and 2 say the same thing
    rows = [-2 + lse(2, 1.2), -1.6 + lse(0, 1.6, 2), -1.6 + lse(2, 1.6)]
    cols = [-2 + lse(2, 0), -1.6 + lse(1.2, 1.6, 2), -1.6 + lse(2, 1.6)]
    expected = 0.5 * (sum(rows) / 3 + sum(cols) / 3)
    loss, stats = contrastive_loss(E_P, E_A, torch.tensor(LN2), phoneme_keys=keys)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert stats["neg_cos"] == pytest.approx(2.6 / 4, abs=1e-6)
    unmasked, _ = contrastive_loss(E_P, E_A, torch.tensor(LN2), phoneme_keys=["a", "b", "c"])
    plain, _ = contrastive_loss(E_P, E_A, torch.tensor(LN2))
    assert unmasked.item() == pytest.approx(plain.item()) and loss.item() < plain.item()


def test_gradients_flow_to_embeddings_and_scale():
    e_p = torch.randn(5, 8, requires_grad=True)
    e_a = torch.randn(5, 8, requires_grad=True)
    scale = torch.tensor(2.0, requires_grad=True)
    loss, _ = contrastive_loss(e_p, e_a, scale, phoneme_keys=["x", "y", "x", "z", "w"])
    loss.backward()
    assert all(t.grad is not None and torch.isfinite(t.grad).all() for t in (e_p, e_a, scale))


def test_float32_under_autocast():
    e_p, e_a = torch.randn(6, 16).bfloat16(), torch.randn(6, 16).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = contrastive_loss(e_p, e_a, torch.tensor(3.0))
    reference, _ = contrastive_loss(e_p.float(), e_a.float(), torch.tensor(3.0))
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(reference.item(), abs=1e-6)


def test_single_pair_and_shape_errors():
    loss, stats = contrastive_loss(torch.randn(1, 4), torch.randn(1, 4), torch.tensor(1.0))
    assert loss.item() == pytest.approx(0.0, abs=1e-7) and math.isnan(stats["neg_cos"])
    with pytest.raises(ValueError, match="one shape"):
        contrastive_loss(torch.randn(3, 4), torch.randn(2, 4), torch.tensor(1.0))
    with pytest.raises(ValueError, match="phoneme_keys"):
        contrastive_loss(torch.randn(3, 4), torch.randn(3, 4), torch.tensor(1.0), phoneme_keys=["a"])


# ---------------------------------------------------------------------------------------------- distributed
SIZES = [3, 5]  # unequal local batches
KEYS = ["x", "y", "z", "x", "u", "v", "w", "y"]  # duplicates across the two ranks


def _global_case():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(sum(SIZES), 6, generator=g)
    target = torch.randn(sum(SIZES), 4, generator=g)
    weight = torch.randn(6, 4, generator=g)
    return features, target, weight


def _reference():
    """One process on the concatenated batch: (loss, grad wrt e_p, grad wrt e_a, grad wrt a shared weight)."""
    features, target, weight = _global_case()
    w = weight.clone().requires_grad_()
    h = features @ w
    h.retain_grad()
    e_a = target.clone().requires_grad_()
    loss, _ = contrastive_loss(h, e_a, torch.tensor(1.5), KEYS)
    loss.backward()
    return loss.detach(), h.grad, e_a.grad, w.grad


def _worker(rank: int, world: int, port: int) -> None:
    ref_loss, ref_gp, ref_ga, ref_gw = _reference()  # before init: plain single-process loss
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        features, target, weight = _global_case()
        lo, hi = sum(SIZES[:rank]), sum(SIZES[: rank + 1])
        w = weight.clone().requires_grad_()  # a "model" parameter replicated on both ranks, as under DDP
        h = features[lo:hi] @ w
        h.retain_grad()
        e_a = target[lo:hi].clone().requires_grad_()
        loss, _ = contrastive_loss(h, e_a, torch.tensor(1.5), KEYS[lo:hi])
        loss.backward()
        torch.testing.assert_close(loss.detach(), ref_loss, atol=1e-5, rtol=0)
        # DDP averages over ranks: local embedding gradients / world are the single-process gradients ...
        torch.testing.assert_close(h.grad / world, ref_gp[lo:hi], atol=1e-5, rtol=0)
        torch.testing.assert_close(e_a.grad / world, ref_ga[lo:hi], atol=1e-5, rtol=0)
        # ... and so are the all-reduced, averaged parameter gradients.
        dist.all_reduce(w.grad)
        torch.testing.assert_close(w.grad / world, ref_gw, atol=1e-5, rtol=0)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_equal_one_process_on_the_concatenated_batch():
    context = mp.spawn(_worker, args=(2, _free_port()), nprocs=2, join=False)
    deadline = time.monotonic() + 120
    while not context.join(timeout=1):  # re-raises a worker's failure
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the 2-rank gloo test did not finish within 120 s")
