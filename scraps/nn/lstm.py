"""The last valid hidden state of a one-layer LSTM over a padded batch, with a backward made for CPUs.

PyTorch's CPU LSTM records every time step as separate autograd operations, and its backward adds a full weight
gradient up one step at a time: on a 2-core CPU that backward was about a third of a SCRAPS training step at the
LJSpeech width (``bench/README.md``). :func:`lstm_last_state` runs the same recurrence with the same parameters
(``nn.LSTM``'s ``weight_ih_l0`` ... layout, gate order input, forget, cell, output) and a hand-written backward: one
small matrix product per step for the recurrent gradient, and the weight, bias and input gradients of all steps at
once in three large products. As with packed sequences, a step updates only the items still inside their sequence,
so each item's result is its state at its own last step.

:class:`scraps.model.LSTMIntegrator` uses it on the CPU; on accelerators cuDNN's packed LSTM is faster.
"""
from __future__ import annotations

import torch
from einops import rearrange


class _LastStateLSTM(torch.autograd.Function):
    """Forward and backward of :func:`lstm_last_state`.

    Items are sorted by length, longest first, so that step s updates only the first ``active[s]`` rows (those
    still inside their sequence; as with packed sequences): an ended item's state is left as it was. Tensors are
    kept time-major, (steps, b, ...), in the sorted order. Each step writes its states straight into per-step
    storage (the state a step reads is the previous step's row: a row live at step s was live at s - 1), and
    everything that does not depend on the recurrence is computed for all steps at once outside the loops, which
    are what costs on a CPU: a handful of small operations per step (``bench/lstm_integrator.py``).
    """

    @staticmethod
    def forward(ctx, x, lengths, w_ih, w_hh, b_ih, b_hh):  # noqa: ANN001, ANN205 (autograd.Function signature)
        """x (b, t, d), lengths (b,) -> h (b, hidden) at each item's step lengths - 1."""
        b, hidden = x.shape[0], w_hh.shape[1]
        sorted_lens, order = torch.sort(lengths.cpu(), descending=True, stable=True)
        steps = int(sorted_lens[0])
        active = (sorted_lens[None, :] > torch.arange(steps)[:, None]).sum(dim=1).tolist()  # rows live at step s
        order = order.to(x.device)
        xs = rearrange(x[order, :steps], "b s d -> s b d").contiguous()
        proj = torch.addmm(b_ih + b_hh, rearrange(xs, "s b d -> (s b) d"), w_ih.t())
        proj = rearrange(proj, "(s b) g -> s b g", s=steps)  # input projections of every step, (s, b, 4h)
        hs = x.new_zeros(steps, b, hidden)  # the state after each step (rows live at that step)
        cs = x.new_zeros(steps, b, hidden)
        acts = x.new_zeros(steps, b, 4 * hidden)  # gate activations: sigmoid(i, f), tanh(g), sigmoid(o)
        tanh_c = x.new_zeros(steps, b, hidden)
        cell = slice(2 * hidden, 3 * hidden)
        w_hh_t = w_hh.t()
        for s, n in enumerate(active):
            act = acts[s, :n]
            gates = proj[0, :n] if s == 0 else torch.addmm(proj[s, :n], hs[s - 1, :n], w_hh_t)  # zero state first
            torch.sigmoid(gates, out=act)
            torch.tanh(gates[:, cell], out=act[:, cell])
            i, f, g, o = act.chunk(4, dim=1)
            if s == 0:
                torch.mul(i, g, out=cs[0, :n])
            else:
                torch.mul(f, cs[s - 1, :n], out=cs[s, :n]).addcmul_(i, g)
            torch.tanh(cs[s, :n], out=tanh_c[s, :n])
            torch.mul(o, tanh_c[s, :n], out=hs[s, :n])
        ctx.save_for_backward(xs, order, w_ih, w_hh, hs, cs, acts, tanh_c)
        ctx.active, ctx.t = active, x.shape[1]
        last = hs[sorted_lens.to(x.device) - 1, torch.arange(b, device=x.device)]  # each item's own last step
        return last[torch.argsort(order)]

    @staticmethod
    def backward(ctx, grad_h):  # noqa: ANN001, ANN205
        xs, order, w_ih, w_hh, hs, cs, acts, tanh_c = ctx.saved_tensors
        steps, b, hidden = hs.shape
        # the states each step read: the previous step's (zero before the first)
        h_in = torch.cat([hs.new_zeros(1, b, hidden), hs[:-1]])
        c_in = torch.cat([cs.new_zeros(1, b, hidden), cs[:-1]])
        # derivative of each gate's activation w.r.t. its pre-activation, all steps at once
        slope = acts * (1 - acts)
        cell = slice(2 * hidden, 3 * hidden)
        slope[..., cell] = 1 - acts[..., cell] ** 2
        i, f, g, o = acts.chunk(4, dim=-1)
        # d pre-activation = (dc * g, dc * c_in, dc * i, dh * tanh(c)) * slope: the factors other than dc and dh
        partner = torch.cat([g, c_in, i, tanh_c], dim=-1).mul_(slope)
        partner_c = rearrange(partner[..., : 3 * hidden], "s b (k h) -> s b k h", k=3)
        partner_o = partner[..., 3 * hidden :]
        o_tanh_slope = o * (1 - tanh_c**2)  # dc gains dh * o * tanh'(c)
        dh, dc = grad_h[order].contiguous(), torch.zeros_like(grad_h)  # rows of ended items pass through as they are
        d_gates = torch.zeros_like(acts)  # gradients of the gates' pre-activations, (s, b, 4h); 0 where not live
        d_gates_c = rearrange(d_gates[..., : 3 * hidden], "s b (k h) -> s b k h", k=3)
        for s in range(steps - 1, -1, -1):
            n = ctx.active[s]
            dc_n = torch.addcmul(dc[:n], dh[:n], o_tanh_slope[s, :n])
            torch.mul(dc_n[:, None, :], partner_c[s, :n], out=d_gates_c[s, :n])
            torch.mul(dh[:n], partner_o[s, :n], out=d_gates[s, :n, 3 * hidden :])
            torch.mul(dc_n, f[s, :n], out=dc[:n])
            torch.mm(d_gates[s, :n], w_hh, out=dh[:n])
        flat = rearrange(d_gates, "s b g -> (s b) g")
        d_w_hh = flat.t() @ rearrange(h_in, "s b h -> (s b) h")
        d_w_ih = flat.t() @ rearrange(xs, "s b d -> (s b) d")
        d_bias = flat.sum(dim=0)
        dx = torch.zeros(xs.shape[1], ctx.t, xs.shape[2], dtype=xs.dtype, device=xs.device)
        dx[order, :steps] = rearrange(flat @ w_ih, "(s b) d -> b s d", s=steps)
        return dx, None, d_w_ih, d_w_hh, d_bias, d_bias


def lstm_last_state(
    x: torch.Tensor,
    lengths: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
) -> torch.Tensor:
    """One-layer LSTM from a zero state: x (b, t, d), lengths (b,) in 1..t -> hidden state (b, h) at lengths - 1.

    Weights as in ``nn.LSTM``: w_ih (4h, d), w_hh (4h, h), biases (4h,). Positions at or beyond an item's length
    are never read, so the result does not depend on the padding.
    """
    if x.ndim != 3 or lengths.shape != x.shape[:1]:
        raise ValueError(
            f"lstm_last_state expects x (b, t, d) and lengths (b,), got {tuple(x.shape)} and {tuple(lengths.shape)}"
        )
    if int(lengths.min()) < 1 or int(lengths.max()) > x.shape[1]:
        raise ValueError(f"lengths must lie in 1..{x.shape[1]} (the padded length), got {lengths.tolist()}")
    return _LastStateLSTM.apply(x, lengths, w_ih, w_hh, b_ih, b_hh)
