"""TTS training objective: masked mel L1 + L2 (before and after the postnet), stop-token BCE, guided attention.

All mel terms are computed on normalised mels (the model's ``target_norm``); normalisation itself lives only in
:class:`tts.model.TTSModel`.

Stop target: a decoder step emits ``r`` frames; the step whose group holds the utterance's last frame has target 1,
earlier steps 0, and steps after it (pure padding) are masked out. Inference stops at the first step whose stop
probability crosses the threshold, so exactly one positive per utterance is what the decision needs; the
imbalance is offset by ``stop_pos_weight``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

from scraps.nn.layers import lengths_to_padding_mask


def _steps(mel_lens: torch.Tensor, reduction: int) -> torch.Tensor:
    """Number of decoder steps covering each utterance: ceil(mel_len / r), (b,)."""
    return torch.div(mel_lens + reduction - 1, reduction, rounding_mode="floor")


def guided_attention_prior(
    id_lens: torch.Tensor, step_lens: torch.Tensor, n: int, s: int, sigma: float = 0.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Diagonal penalty W[s, n] = 1 - exp(-(n/N - s/S)^2 / (2 sigma^2)) per item, and its validity mask.

    id_lens (b,), step_lens (b,) -> W (b, s, n), valid (b, s, n) bool (True where both n < N and s < S).
    """
    pos_n = torch.arange(n, device=id_lens.device, dtype=torch.float32)
    pos_s = torch.arange(s, device=id_lens.device, dtype=torch.float32)
    rel_n = pos_n[None, None, :] / id_lens.clamp(min=1)[:, None, None]
    rel_s = pos_s[None, :, None] / step_lens.clamp(min=1)[:, None, None]
    w = 1.0 - torch.exp(-((rel_n - rel_s) ** 2) / (2 * sigma**2))
    valid = ~lengths_to_padding_mask(step_lens, s)[:, :, None] & ~lengths_to_padding_mask(id_lens, n)[:, None, :]
    return w, valid


def guided_attention_loss(
    attn: list[torch.Tensor] | torch.Tensor,
    id_lens: torch.Tensor,
    step_lens: torch.Tensor,
    sigma: float = 0.2,
) -> torch.Tensor:
    """Off-diagonal attention mass, averaged over valid decoder steps, heads and layers (a value in [0, 1]).

    attn: one (b, h, s, n) map or a list of them (one per layer); id_lens (b,), step_lens (b,) valid sizes.
    """
    maps = torch.stack(list(attn)) if isinstance(attn, (list, tuple)) else attn[None]
    s, n = maps.shape[-2:]
    w, valid = guided_attention_prior(id_lens, step_lens, n, s, sigma)
    penalty = (maps * (w * valid)[None, :, None]).sum(dim=-1)  # (layers, b, h, s)
    rows = valid.any(dim=-1)[None, :, None].expand_as(penalty)
    return penalty[rows].mean()


def guided_attention_weight(
    step: int, start: float = 1.0, fade_start: int = 10_000, fade_end: int = 30_000
) -> float:
    """Weight of the guided-attention term at training ``step``: ``start`` until ``fade_start``, then linearly
    down to 0 at ``fade_end``, 0 afterwards (alignment is learnt by then; the prior must not fight it)."""
    if fade_end < fade_start:
        raise ValueError(f"guided attention fade_end {fade_end} is before fade_start {fade_start}")
    if step <= fade_start:
        return start
    if step >= fade_end:
        return 0.0
    return start * (fade_end - step) / (fade_end - fade_start)


def focus_rate(
    attn: torch.Tensor | list[torch.Tensor], mel_lens: torch.Tensor, id_lens: torch.Tensor, reduction: int = 1
) -> float:
    """Alignment sharpness: mean over valid decoder steps of the largest attention probability, best head.

    attn (b, h, s, n) (or a list per layer: the best head of any layer counts), mel_lens (b,) in frames,
    id_lens (b,); ``reduction`` frames per decoder step. A diagonal, sharp alignment gives a value near 1, a
    uniform one 1 / N (FastSpeech's measure for choosing the alignment head).
    """
    maps = (torch.cat(list(attn), dim=1) if isinstance(attn, (list, tuple)) else attn).detach()
    _, _, s, n = maps.shape
    keys = ~lengths_to_padding_mask(id_lens, n)[:, None, None, :]
    peak = maps.masked_fill(~keys, 0.0).amax(dim=-1)  # (b, h, s)
    rows = ~lengths_to_padding_mask(_steps(mel_lens, reduction), s)  # (b, s)
    per_head = (peak * rows[:, None]).sum(dim=(0, 2)) / rows.sum().clamp(min=1)
    return float(per_head.max())


def tts_loss(
    out: dict,
    target_mel_norm: torch.Tensor,
    mel_lens: torch.Tensor,
    id_lens: torch.Tensor,
    *,
    reduction: int,
    stop_pos_weight: float = 5.0,
    guided_weight: float = 0.0,
    guided_sigma: float = 0.2,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss of one teacher-forced batch.

    ``out`` is :meth:`tts.model.TTSModel.forward`'s dict: ``mel_norm`` and ``mel_post_norm`` (b, c, T),
    ``stop`` (b, ceil(T / r)) logits, ``attn`` (list of (b, h, s, n), needed when ``guided_weight`` > 0).
    target_mel_norm (b, c, T), mel_lens (b,), id_lens (b,). Returns the scalar loss and detached 0-dim stats
    (``loss``, ``l1``, ``l2``, ``l1_post``, ``l2_post``, ``stop``, ``guided``).
    """
    t = target_mel_norm.shape[-1]
    frame_mask = rearrange(~lengths_to_padding_mask(mel_lens, t), "b t -> b 1 t").to(target_mel_norm.dtype)
    denom = frame_mask.sum() * target_mel_norm.shape[1]

    def masked(diff: torch.Tensor) -> torch.Tensor:
        return (diff * frame_mask).sum() / denom

    stats = {}
    for name, key in (("", "mel_norm"), ("_post", "mel_post_norm")):
        diff = out[key] - target_mel_norm
        stats[f"l1{name}"] = masked(diff.abs())
        stats[f"l2{name}"] = masked(diff.square())

    stop_logits = out["stop"]
    steps = _steps(mel_lens, reduction)
    positions = torch.arange(stop_logits.shape[1], device=stop_logits.device)[None, :]
    stop_target = (positions == (steps - 1)[:, None]).to(stop_logits.dtype)
    stop_mask = positions < steps[:, None]
    stats["stop"] = F.binary_cross_entropy_with_logits(
        stop_logits[stop_mask],
        stop_target[stop_mask],
        pos_weight=torch.tensor(stop_pos_weight, device=stop_logits.device, dtype=stop_logits.dtype),
    )

    loss = stats["l1"] + stats["l2"] + stats["l1_post"] + stats["l2_post"] + stats["stop"]
    if guided_weight > 0:
        if out.get("attn") is None:
            raise ValueError("guided attention needs attention maps: call the model with need_weights=True")
        stats["guided"] = guided_attention_loss(out["attn"], id_lens, steps, guided_sigma)
        loss = loss + guided_weight * stats["guided"]
    else:
        stats["guided"] = torch.zeros((), device=loss.device)
    stats["loss"] = loss
    return loss, {k: v.detach() for k, v in stats.items()}
