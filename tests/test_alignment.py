"""Learnt alignment: monotonic alignment search, the forward-sum loss, expansion to frames, durations."""
from __future__ import annotations

import itertools

import pytest
import torch

from tts.alignment import (
    Aligner,
    DurationPredictor,
    diagonal_log_prior,
    durations_from_log,
    even_durations,
    expand_to_frames,
    forward_sum_loss,
    hard_alignment_focus,
    monotonic_alignment_search,
)


def _all_paths_best(log_p: torch.Tensor) -> tuple[float, list[int]]:
    """Brute force: the best monotonic path's score and durations of one (t, n) matrix."""
    t, n = log_p.shape
    best, best_d = float("-inf"), None
    for cuts in itertools.combinations(range(1, t), n - 1):  # frames where phonemes 1..n-1 start
        bounds = (0, *cuts, t)
        d = [bounds[k + 1] - bounds[k] for k in range(n)]
        score = sum(float(log_p[f, k]) for k in range(n) for f in range(bounds[k], bounds[k + 1]))
        if score > best:
            best, best_d = score, d
    return best, best_d


def test_mas_finds_the_best_monotonic_path():
    g = torch.Generator().manual_seed(0)
    for t, n in [(6, 3), (7, 4), (5, 5), (8, 2), (4, 1)]:
        log_p = torch.randn(1, t, n, generator=g).log_softmax(-1)
        d = monotonic_alignment_search(log_p, torch.tensor([t]), torch.tensor([n]))[0]
        _, expected = _all_paths_best(log_p[0])
        assert d.tolist() == expected


def test_mas_batch_with_padding_equals_items_alone():
    g = torch.Generator().manual_seed(1)
    log_p = torch.randn(3, 12, 5, generator=g).log_softmax(-1)
    mel_lens, text_lens = torch.tensor([12, 9, 6]), torch.tensor([5, 3, 4])
    batch = monotonic_alignment_search(log_p, mel_lens, text_lens)
    for i in range(3):
        t, n = int(mel_lens[i]), int(text_lens[i])
        alone = monotonic_alignment_search(log_p[i : i + 1, :t, :n], mel_lens[i : i + 1], text_lens[i : i + 1])
        assert batch[i, :n].tolist() == alone[0].tolist()
        assert batch[i, n:].eq(0).all() and batch[i, :n].ge(1).all() and int(batch[i].sum()) == t


def test_mas_with_fewer_frames_than_phonemes_spreads_them_evenly():
    d = monotonic_alignment_search(torch.zeros(1, 3, 5), torch.tensor([3]), torch.tensor([5]))
    assert d[0].tolist() == even_durations(3, 5).tolist() and int(d.sum()) == 3


def test_forward_sum_loss_prefers_a_clear_monotonic_alignment_and_has_finite_gradients():
    t, n = 12, 4
    diagonal = torch.full((1, t, n), -8.0)
    for f in range(t):
        diagonal[0, f, f * n // t] = 0.0
    reversed_ = diagonal.flip(-1)
    lens_t, lens_n = torch.tensor([t]), torch.tensor([n])
    assert forward_sum_loss(diagonal.log_softmax(-1), lens_t, lens_n) < forward_sum_loss(
        reversed_.log_softmax(-1), lens_t, lens_n
    )
    aligner = Aligner(n_mels=6, text_dim=8, dim=4)
    mel, text = torch.randn(2, t, 6), torch.randn(2, n, 8)
    log_p = aligner(mel, text, torch.tensor([t, 7]), torch.tensor([n, 2]))
    assert torch.isinf(log_p[1, :, 2:]).all()  # padded phonemes
    loss = forward_sum_loss(log_p, torch.tensor([t, 7]), torch.tensor([n, 2]))
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in aligner.parameters())


def test_expand_to_frames_repeats_each_phoneme_for_its_duration():
    text = torch.arange(1.0, 4.0)[None, :, None].expand(1, 3, 2)  # phoneme k has vector (k+1, k+1)
    frames, position, log_dur = expand_to_frames(text, torch.tensor([[2, 1, 3]]), t=8)
    assert frames[0, :, 0].tolist() == [1, 1, 2, 3, 3, 3, 0, 0]
    torch.testing.assert_close(position[0, :6], torch.tensor([0.25, 0.75, 0.5, 1 / 6, 0.5, 5 / 6]))
    assert position[0, 6:].eq(0).all() and log_dur[0, 6:].eq(0).all()
    torch.testing.assert_close(log_dur[0, :6].exp(), torch.tensor([2.0, 2, 1, 3, 3, 3]))


def test_diagonal_prior_is_zero_on_the_diagonal_and_falls_off_it():
    prior = diagonal_log_prior(torch.tensor([4, 2]), torch.tensor([4, 8]), 4, 8, sigma=0.2)
    assert prior[0, :4].diagonal().eq(0).all()  # one frame per phoneme: centres coincide
    assert prior[0, 0, 3] < prior[0, 0, 1] < prior[0, 0, 0] == 0
    assert prior[1, 1, 0] > prior[1, 1, 1] and prior[1, 6, 1] > prior[1, 6, 0]  # 8 frames, 2 phonemes


def test_duration_predictor_ignores_padding_and_durations_are_whole_frames():
    torch.manual_seed(0)
    pred = DurationPredictor(8, channels=16).eval()
    x = torch.randn(2, 5, 8)
    lens = torch.tensor([5, 3])
    out = pred(x, lens)
    padded = x.clone()
    padded[1, 3:] = 100.0
    torch.testing.assert_close(pred(padded, lens)[1, :3], out[1, :3])
    assert out[1, 3:].eq(0).all()
    d = durations_from_log(torch.tensor([[0.0, 2.0, -5.0]]), torch.tensor([2]), pace=1.0)
    assert d.tolist() == [[1, 7, 0]]  # exp(0) = 1, exp(2) = 7.39 -> 7, padding 0
    assert durations_from_log(torch.tensor([[2.0]]), torch.tensor([1]), pace=2.0).tolist() == [[4]]


def test_focus_is_one_for_a_hard_alignment_and_one_over_n_for_a_uniform_one():
    hard = torch.full((1, 6, 3), float("-inf"))
    hard[0, torch.arange(6), torch.tensor([0, 0, 1, 1, 2, 2])] = 0.0
    assert hard_alignment_focus(hard, torch.tensor([6])) == pytest.approx(1.0)
    uniform = torch.full((1, 6, 3), -torch.log(torch.tensor(3.0)))
    assert hard_alignment_focus(uniform, torch.tensor([6])) == pytest.approx(1 / 3)
