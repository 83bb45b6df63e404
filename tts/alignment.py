"""Learnt monotonic alignment between phonemes and mel frames, and the per-phoneme durations it yields.

The TTS decoder is told, frame by frame, which phoneme it is speaking (:func:`expand_to_frames`). During training
those durations come from the :class:`Aligner`: a soft alignment ``log p(phoneme n | frame t)`` made by comparing
small convolutional encodings of the target mel and of the phoneme vectors, trained with the forward-sum loss
(:func:`forward_sum_loss`: the likelihood of all monotonic paths through it, computed by CTC) and turned into one
hard path by monotonic alignment search (:func:`monotonic_alignment_search`, the Viterbi path: every phoneme gets at
least one frame, in order). At inference a duration predictor stands in for the aligner.

A diagonal prior (:func:`diagonal_log_prior`) added to the soft alignment makes the first steps of training find
roughly linear paths before the encodings carry any information.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from scraps.nn.layers import lengths_to_padding_mask

NEG_INF = float("-inf")


def diagonal_log_prior(text_lens: torch.Tensor, mel_lens: torch.Tensor, n: int, t: int, sigma: float) -> torch.Tensor:
    """Log of an unnormalised Gaussian around the diagonal: -(n'/N - t'/T)^2 / (2 sigma^2) at token n', frame t'.

    Positions are centres of their cells ((n' + 0.5) / N), so a one-token utterance has no penalty. text_lens (b,),
    mel_lens (b,) -> (b, t, n); values outside each item's (T, N) are 0 (they are masked elsewhere).
    """
    pos_n = (torch.arange(n, device=text_lens.device, dtype=torch.float32) + 0.5)[None, None, :]
    pos_t = (torch.arange(t, device=text_lens.device, dtype=torch.float32) + 0.5)[None, :, None]
    rel = pos_n / text_lens.clamp(min=1)[:, None, None] - pos_t / mel_lens.clamp(min=1)[:, None, None]
    return -(rel**2) / (2 * sigma**2)


class Aligner(nn.Module):
    """Soft alignment of mel frames to phonemes: (b, t, n_mels) frames, (b, n, d) phoneme vectors -> (b, t, n).

    Each side goes through two 1-D convolutions to a ``dim``-sized key; the alignment logit of (frame, phoneme) is
    the cosine of their keys times a learnt scale (starting at ``init_scale``, so that the first alignments are
    soft), and a log-softmax over the phonemes of each frame gives ``log p(phoneme | frame)``.
    """

    def __init__(self, n_mels: int, text_dim: int, dim: int = 64, kernel: int = 3, init_scale: float = 10.0) -> None:
        super().__init__()
        self.mel_net = nn.Sequential(
            nn.Conv1d(n_mels, 2 * dim, kernel, padding=kernel // 2), nn.ReLU(), nn.Conv1d(2 * dim, dim, 1)
        )
        self.text_net = nn.Sequential(
            nn.Conv1d(text_dim, 2 * dim, kernel, padding=kernel // 2), nn.ReLU(), nn.Conv1d(2 * dim, dim, 1)
        )
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))

    def forward(
        self, mel: torch.Tensor, text: torch.Tensor, mel_lens: torch.Tensor, text_lens: torch.Tensor
    ) -> torch.Tensor:
        """mel (b, t, n_mels) normalised frames, text (b, n, d), mel_lens (b,), text_lens (b,) -> log p (b, t, n).

        Padded phonemes get -inf; rows of padded frames are valid distributions but meaningless (mask them).
        Padded frames and phonemes are zeroed before the convolutions (as their own zero padding would be), so an
        item's alignment does not depend on the other items of its batch.
        """
        frame_pad = lengths_to_padding_mask(mel_lens, mel.shape[1])[..., None]
        padding = lengths_to_padding_mask(text_lens, text.shape[1])
        q = F.normalize(self.mel_net(rearrange(mel.masked_fill(frame_pad, 0.0), "b t c -> b c t")).float(), dim=1)
        k = F.normalize(self.text_net(rearrange(text.masked_fill(padding[..., None], 0.0), "b n d -> b d n")).float(),
                        dim=1)  # fmt: skip
        logits = self.log_scale.exp() * torch.einsum("bct,bcn->btn", q, k)
        return logits.masked_fill(padding[:, None, :], NEG_INF).log_softmax(dim=-1)


def forward_sum_loss(log_p: torch.Tensor, mel_lens: torch.Tensor, text_lens: torch.Tensor,
                     blank_log_p: float = -1.0) -> torch.Tensor:
    """Negative log-likelihood of all monotonic paths through a soft alignment, per phoneme, batch mean.

    log_p (b, t, n) = log p(phoneme | frame) (padding -inf); the phonemes 1..N of an item are the CTC target and a
    blank class of fixed logit ``blank_log_p`` lets a frame belong to none (silences, transitions).
    """
    b, t, n = log_p.shape
    blank = log_p.new_full((b, t, 1), blank_log_p)
    # padded phonemes get a large finite logit instead of -inf: CTC's gradient is not finite at -inf
    emissions = torch.cat([blank, log_p.clamp(min=-1e4)], dim=-1).log_softmax(dim=-1)
    targets = torch.arange(1, n + 1, device=log_p.device).expand(b, n)
    return F.ctc_loss(
        rearrange(emissions, "b t c -> t b c"), targets, mel_lens, text_lens, blank=0, reduction="mean",
        zero_infinity=True,
    )


@torch.no_grad()
def monotonic_alignment_search(log_p: torch.Tensor, mel_lens: torch.Tensor, text_lens: torch.Tensor) -> torch.Tensor:
    """Most likely monotonic hard alignment of each item -> durations (b, n) long (0 at padded phonemes).

    log_p (b, t, n): frame t goes to exactly one phoneme, phonemes in order, each at least one frame, the first
    frame to phoneme 0 and the last valid frame to the last valid phoneme. An item with fewer frames than
    phonemes has no such path: its durations are spread as evenly as possible instead (and sum to its frames).
    """
    b, t, n = log_p.shape
    device = log_p.device
    lp = log_p.detach().float().masked_fill(lengths_to_padding_mask(text_lens, n)[:, None, :], NEG_INF)
    from_prev = torch.zeros(b, t, n, dtype=torch.bool, device=device)  # True: came from phoneme n - 1
    q = torch.full((b, n), NEG_INF, device=device)
    q[:, 0] = lp[:, 0, 0]
    shifted = torch.full((b, n), NEG_INF, device=device)
    for i in range(1, t):
        shifted[:, 1:] = q[:, :-1]
        step_up = shifted > q
        from_prev[:, i] = step_up
        q = torch.where(step_up, shifted, q) + lp[:, i]
    # backtrack from (T - 1, N - 1) of each item
    frames_of = torch.zeros(b, t, dtype=torch.long, device=device)  # phoneme index of each frame
    cur = (text_lens - 1).clone()
    rows = torch.arange(b, device=device)
    for i in range(t - 1, -1, -1):
        active = i < mel_lens
        frames_of[:, i] = torch.where(active, cur, 0)
        moved = from_prev[rows, i, cur] & active
        cur = (cur - moved.long()).clamp(min=0)
    valid = ~lengths_to_padding_mask(mel_lens, t)
    durations = torch.zeros(b, n, dtype=torch.long, device=device)
    durations.scatter_add_(1, frames_of, valid.long())
    impossible = mel_lens < text_lens
    if bool(impossible.any()):
        for k in impossible.nonzero().flatten().tolist():
            durations[k] = 0
            durations[k, : int(text_lens[k])] = even_durations(int(mel_lens[k]), int(text_lens[k]))
    return durations


def even_durations(frames: int, tokens: int) -> torch.Tensor:
    """``frames`` split over ``tokens`` as evenly as possible -> (tokens,) long summing to ``frames``."""
    edges = torch.div(torch.arange(tokens + 1) * frames, tokens, rounding_mode="floor")
    return edges[1:] - edges[:-1]


def expand_to_frames(
    text: torch.Tensor, durations: torch.Tensor, t: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Repeat each phoneme vector for its frames.

    text (b, n, d), durations (b, n) long, t: frames to produce -> frames (b, t, d) (zero beyond each item's total),
    position (b, t) in [0, 1): how far into its phoneme each frame lies ((k + 0.5) / duration), and
    log_duration (b, t): log of that phoneme's duration (0 beyond the total).
    """
    ends = durations.cumsum(dim=1)  # (b, n)
    frame = torch.arange(t, device=text.device).expand(text.shape[0], t).contiguous()
    index = torch.searchsorted(ends, frame, right=True)  # (b, t): the phoneme each frame belongs to
    beyond = index >= text.shape[1]
    index = index.clamp(max=text.shape[1] - 1)
    frames = text.gather(1, index[..., None].expand(-1, -1, text.shape[2])).masked_fill(beyond[..., None], 0.0)
    dur = durations.gather(1, index).clamp(min=1)
    start = ends.gather(1, index) - dur
    position = ((frame - start).float() + 0.5) / dur.float()
    log_duration = torch.log(dur.float())
    return frames, position.masked_fill(beyond, 0.0), log_duration.masked_fill(beyond, 0.0)


def hard_alignment_focus(log_p: torch.Tensor, mel_lens: torch.Tensor) -> float:
    """Alignment sharpness: mean over valid frames of the largest probability, max_n p(n | t), of log_p (b, t, n).

    Near 1 when each frame is clearly one phoneme's, 1 / N when the aligner cannot tell them apart.
    """
    peak = log_p.detach().float().exp().amax(dim=-1)  # (b, t)
    valid = ~lengths_to_padding_mask(mel_lens, log_p.shape[1])
    return float((peak * valid).sum() / valid.sum().clamp(min=1))


class DurationPredictor(nn.Module):
    """Phoneme vectors (b, n, d) -> log durations in frames (b, n): two convolutions with ReLU, LayerNorm and
    dropout, then a linear head; padded phonemes are zeroed before each convolution."""

    def __init__(self, dim: int, channels: int = 256, kernel: int = 3, dropout: float = 0.1) -> None:
        super().__init__()
        self.convs = nn.ModuleList([
            nn.Conv1d(dim, channels, kernel, padding=kernel // 2),
            nn.Conv1d(channels, channels, kernel, padding=kernel // 2),
        ])
        self.norms = nn.ModuleList(nn.LayerNorm(channels) for _ in self.convs)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(channels, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x (b, n, d), lengths (b,) -> log durations (b, n), 0 at padding."""
        padding = lengths_to_padding_mask(lengths, x.shape[1])[..., None]
        for conv, norm in zip(self.convs, self.norms):
            x = x.masked_fill(padding, 0.0)
            x = rearrange(conv(rearrange(x, "b n d -> b d n")), "b d n -> b n d")
            x = self.drop(norm(F.relu(x)))
        return rearrange(self.head(x), "b n 1 -> b n").masked_fill(padding[..., 0], 0.0)


def durations_from_log(log_durations: torch.Tensor, lengths: torch.Tensor, pace: float = 1.0) -> torch.Tensor:
    """Predicted log durations (b, n) -> whole frames (b, n) long, at least 1 per phoneme, 0 at padding;
    ``pace`` > 1 speaks faster (durations divided by it)."""
    frames = torch.round(torch.exp(log_durations.float()) / pace).long().clamp(min=1)
    return frames.masked_fill(lengths_to_padding_mask(lengths, log_durations.shape[1]), 0)
