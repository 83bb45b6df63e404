"""Batched embedding and scoring: sequences padded in batches of similar length (the model is padding-invariant,
so an item gets the embedding it gets alone); a pair scores the cosine of its two embeddings."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch.nn.utils.rnn import pad_sequence

from scraps.audio import SAMPLE_RATE, resample
from scraps.evaluation.inputs import check_audio
from scraps.evaluation.metrics import pair_scores
from scraps.text import TextFrontend

if TYPE_CHECKING:
    from scraps.model import ScrapsModel


def _device(model: ScrapsModel) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def _embed_sorted(
    embed: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    seqs: Sequence[torch.Tensor],
    pad_value: float,
    batch_size: int,
    device: torch.device,
) -> torch.Tensor:
    """Embed 1-D ``seqs`` in padded batches of similar length -> (n, e) in input order."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    out = []
    for chunk in chunks:
        batch = pad_sequence([seqs[i] for i in chunk], batch_first=True, padding_value=pad_value)
        lengths = torch.tensor([len(seqs[i]) for i in chunk])
        out.append(embed(batch.to(device), lengths.to(device)).float().cpu())
    embedded = torch.cat(out)
    result = torch.empty_like(embedded)
    result[torch.tensor(order)] = embedded
    return result


def embed_phoneme_ids(model: ScrapsModel, ids: Sequence[Sequence[int]], batch_size: int = 64) -> torch.Tensor:
    """n id lists (bos ... eos) -> (n, e) phonetic embeddings."""
    seqs = [torch.as_tensor(i, dtype=torch.long) for i in ids]
    return _embed_sorted(model.embed_phonemes, seqs, model.vocab.pad_id, batch_size, _device(model))


def embed_waves(model: ScrapsModel, waves: Sequence[torch.Tensor], batch_size: int = 16) -> torch.Tensor:
    """n waveforms (samples,) at 24 kHz -> (n, e) acoustic embeddings."""
    return _embed_sorted(model.embed_audio, waves, 0.0, batch_size, _device(model))


def score_ids_audios(
    model: ScrapsModel, ids: Sequence[Sequence[int]], waves: Sequence[torch.Tensor], batch_size: int = 16
) -> list[float]:
    """SCRAPS score of each (phoneme ids, 24 kHz waveform (samples,)) pair, batched -> n floats."""
    if not ids:
        return []
    return pair_scores(embed_phoneme_ids(model, ids, batch_size), embed_waves(model, waves, batch_size)).tolist()


def score_texts_audios(
    model: ScrapsModel,
    texts: Sequence[str],
    waves: Sequence[torch.Tensor],
    sr: int = SAMPLE_RATE,
    frontend: TextFrontend | None = None,
    batch_size: int = 16,
) -> list[float]:
    """SCRAPS score of each (text, waveform (samples,) at ``sr``) pair -> n floats.

    Texts go through ``frontend`` (default: the one stored in the model's export). Raises :class:`TextError` /
    :class:`AudioError` naming the first unusable item.
    """
    if len(texts) != len(waves):
        raise ValueError(f"score_texts_audios got {len(texts)} texts but {len(waves)} waveforms")
    frontend = frontend or model.frontend()
    ids = [model.encode_text(t, frontend) for t in texts]
    waves = [resample(w, sr) for w in waves]
    for i, w in enumerate(waves):
        check_audio(w, model, f"item {i}")
    return score_ids_audios(model, ids, waves, batch_size)
