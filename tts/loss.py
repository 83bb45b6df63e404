"""TTS training objective: masked mel L1 + L2 (before and after the postnet), the aligner's forward-sum loss, and
the duration predictor's squared errors: per phoneme in log frames, and per utterance on the log of its total
length (the per-phoneme term alone predicts the mean log duration, whose exponential falls short of the mean
duration: utterances come out too short by about half the residual variance).

All mel terms are computed on normalised mels (the model's ``target_norm``); normalisation itself lives only in
:class:`tts.model.TTSModel`. The duration targets are the durations the model's own aligner gave this batch
(``out["durations"]``): the predictor learns to reproduce at inference what the aligner found in training.
"""
from __future__ import annotations

import torch
from einops import rearrange

from scraps.nn.layers import lengths_to_padding_mask
from tts.alignment import forward_sum_loss


def prior_sigma(step: int, start: float = 0.2, end: float = 1.0, fade_start: int = 500, fade_end: int = 2000) -> float:
    """Width of the aligner's diagonal prior at training ``step``: ``start`` until ``fade_start``, then growing
    linearly to ``end`` at ``fade_end`` (a wide prior hardly constrains the path: the learnt alignment takes over)."""
    if fade_end < fade_start:
        raise ValueError(f"prior fade_end {fade_end} is before fade_start {fade_start}")
    if step <= fade_start:
        return start
    if step >= fade_end:
        return end
    return start + (end - start) * (step - fade_start) / (fade_end - fade_start)


def tts_loss(
    out: dict,
    mel_lens: torch.Tensor,
    id_lens: torch.Tensor,
    *,
    align_weight: float = 1.0,
    duration_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss of one teacher-forced batch.

    ``out`` is :meth:`tts.model.TTSModel.forward`'s dict: ``mel_norm``, ``mel_post_norm`` and ``target_norm``
    (b, c, T), ``align_log_p_prior`` (b, T, n), ``durations`` (b, n), ``log_duration_pred`` (b, n), and with
    scheduled sampling ``mel_norm_fed`` (b, c, T), whose mel terms are added alike.
    mel_lens (b,), id_lens (b,). Returns the scalar loss and detached 0-dim stats (``loss``, ``l1``, ``l2``,
    ``l1_post``, ``l2_post``, [``l1_fed``, ``l2_fed``,] ``align``,
    ``duration``, ``length``).
    """
    target = out["target_norm"]
    t = target.shape[-1]
    frame_mask = rearrange(~lengths_to_padding_mask(mel_lens, t), "b t -> b 1 t").to(target.dtype)
    denom = frame_mask.sum() * target.shape[1]

    def masked(diff: torch.Tensor) -> torch.Tensor:
        return (diff * frame_mask).sum() / denom

    stats = {}
    for name, key in (("", "mel_norm"), ("_post", "mel_post_norm"), ("_fed", "mel_norm_fed")):
        if key in out:
            diff = out[key] - target
            stats[f"l1{name}"] = masked(diff.abs())
            stats[f"l2{name}"] = masked(diff.square())
    stats["align"] = forward_sum_loss(out["align_log_p_prior"], mel_lens, id_lens)
    tokens = ~lengths_to_padding_mask(id_lens, out["durations"].shape[1])
    target_log = torch.log(out["durations"].clamp(min=1).float())
    err = (out["log_duration_pred"].float() - target_log).square()
    stats["duration"] = (err * tokens).sum() / tokens.sum().clamp(min=1)
    predicted_total = (out["log_duration_pred"].float().exp() * tokens).sum(dim=1)
    stats["length"] = (torch.log(predicted_total) - torch.log(out["durations"].sum(dim=1).float())).square().mean()
    loss = sum(v for k, v in stats.items() if k.startswith(("l1", "l2")))
    loss = loss + align_weight * stats["align"] + duration_weight * (stats["duration"] + stats["length"])
    stats["loss"] = loss
    return loss, {k: v.detach() for k, v in stats.items()}
