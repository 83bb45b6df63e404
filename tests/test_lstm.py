"""scraps.nn.lstm.lstm_last_state: the CPU recurrence of the SCRAPS integrator against nn.LSTM."""
import pytest
import torch

from scraps.model import LSTMIntegrator
from scraps.nn.lstm import lstm_last_state


def weights(integ: LSTMIntegrator) -> list[torch.Tensor]:
    lstm = integ.lstm
    return [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0]


def test_values_and_gradients_equal_packed_nn_lstm():
    torch.manual_seed(0)
    integ = LSTMIntegrator(10, 12).double()
    x = torch.randn(5, 9, 10, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([9, 4, 1, 7, 9])
    upstream = torch.randn(5, 12, dtype=torch.float64)
    ref = integ.packed(x, lengths)
    out = integ(x, lengths)  # the CPU path: lstm_last_state
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    grads_ref = torch.autograd.grad(ref, [x, *weights(integ)], upstream)
    grads = torch.autograd.grad(out, [x, *weights(integ)], upstream)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, rtol=0, atol=1e-12)
    assert grads[0][1, 4:].abs().max() == 0  # nothing flows into padding


def test_gradcheck_with_ragged_lengths():
    torch.manual_seed(1)
    x = torch.randn(3, 5, 2, dtype=torch.float64, requires_grad=True)
    params = [torch.randn(12, 2), torch.randn(12, 3), torch.randn(12), torch.randn(12)]
    params = [p.double().requires_grad_() for p in params]
    lengths = torch.tensor([5, 2, 3])
    assert torch.autograd.gradcheck(lambda x, *w: lstm_last_state(x, lengths, *w), (x, *params))


def test_float32_matches_packed_lstm():
    torch.manual_seed(2)
    integ = LSTMIntegrator(16, 16)
    x = torch.randn(4, 30, 16)
    lengths = torch.tensor([30, 11, 25, 3])
    torch.testing.assert_close(integ(x, lengths), integ.packed(x, lengths), rtol=1e-5, atol=1e-6)


def test_bad_lengths_name_the_range():
    x = torch.randn(2, 4, 3)
    w = [torch.randn(8, 3), torch.randn(8, 2), torch.randn(8), torch.randn(8)]
    with pytest.raises(ValueError, match=r"lengths must lie in 1\.\.4"):
        lstm_last_state(x, torch.tensor([5, 2]), *w)
    with pytest.raises(ValueError, match=r"lengths must lie in 1\.\.4"):
        lstm_last_state(x, torch.tensor([0, 2]), *w)
