"""Training-time data: a lhotse map dataset that collates cuts into padded tensors, and its sampler.

The sampler (:func:`make_sampler`) yields a :class:`~lhotse.CutSet` per mini-batch, bucketed by duration so that
a batch holds utterances of similar length (little padding); :class:`SpeechDataset` turns that CutSet into
tensors. Phonemes come from the manifest (G2P ran once, at preparation); audio is read with
:func:`scraps.audio.load_audio`; mel frames are computed later, on the training device.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import torch
from lhotse import CutSet
from lhotse.cut import Cut
from lhotse.dataset import DynamicBucketingSampler
from torch.utils.data import DataLoader, Dataset

from scraps.audio import SAMPLE_RATE, AudioError, load_audio
from scraps.data.prepare import DataError

if TYPE_CHECKING:
    from scraps.text import PhonemeVocab


def speaker_map_from_cuts(cuts: CutSet) -> dict[str, int]:
    """Map each speaker name found in ``cuts`` to an index, names sorted (stable across runs)."""
    return {name: i for i, name in enumerate(sorted({c.supervisions[0].speaker for c in cuts}))}


class SpeechDataset(Dataset):
    """Turn a mini-batch CutSet into padded tensors (a lhotse-style map dataset: the sampler gives the keys).

    A batch is ``{"ids": list[str], "phonemes": (b, n) long, "phoneme_lens": (b,), "audio": (b, samples) float32,
    "audio_lens": (b,), "speakers": (b,) long, "phoneme_strings": list[str], "texts": list[str]}``; phonemes carry
    bos/eos and are padded with ``vocab.pad_id``, audio is mono at ``SAMPLE_RATE`` and zero-padded. A cut whose
    audio fails to load is left out of its batch with a warning and counted in ``num_failed`` (per process: with
    DataLoader workers each worker counts its own); a batch whose every file failed has ``b == 0``.
    """

    def __init__(self, vocab: PhonemeVocab, speaker_map: dict[str, int] | None = None) -> None:
        self.vocab = vocab
        self.speaker_map = speaker_map
        self.num_failed = 0

    def _speaker_index(self, cut: Cut) -> int:
        if self.speaker_map is None:
            return 0
        speaker = cut.supervisions[0].speaker
        if speaker not in self.speaker_map:
            raise DataError(
                f"unknown speaker {speaker!r} in cut {cut.id!r}: the speaker map knows {len(self.speaker_map)} "
                f"speakers; build it with speaker_map_from_cuts() over every cut you train on"
            )
        return self.speaker_map[speaker]

    def _load(self, cut: Cut) -> torch.Tensor | None:
        """The cut's span of its recording as (samples,) float32 at ``SAMPLE_RATE``, or None if it cannot be read."""
        path = cut.recording.sources[0].source
        try:
            wav = load_audio(path)
        except AudioError as exc:
            self.num_failed += 1
            warnings.warn(f"skipping cut {cut.id!r} ({self.num_failed} skipped so far): {exc}", stacklevel=3)
            return None
        start = round(cut.start * SAMPLE_RATE)
        return wav[start : start + round(cut.duration * SAMPLE_RATE)]

    def __getitem__(self, cuts: CutSet) -> dict[str, Any]:
        ids, phoneme_ids, phoneme_strings, texts, wavs, speakers = [], [], [], [], [], []
        for cut in cuts:
            sup = cut.supervisions[0]
            phonemes = (sup.custom or {}).get("phonemes")
            if not phonemes:
                raise DataError(
                    f"cut {cut.id!r} has no phonemes in its manifest; make manifests with "
                    f"`python -m scraps.data.prepare` (G2P runs there, not during training)"
                )
            speaker = self._speaker_index(cut)
            wav = self._load(cut)
            if wav is None:
                continue
            ids.append(cut.id)
            phoneme_ids.append(torch.tensor(self.vocab.encode(phonemes.split(" "), add_bos_eos=True)))
            phoneme_strings.append(phonemes)
            texts.append(sup.text)
            wavs.append(wav)
            speakers.append(speaker)
        phoneme_lens = torch.tensor([len(p) for p in phoneme_ids], dtype=torch.long)
        audio_lens = torch.tensor([len(w) for w in wavs], dtype=torch.long)
        phonemes = torch.full((len(ids), max(phoneme_lens.tolist(), default=0)), self.vocab.pad_id, dtype=torch.long)
        audio = torch.zeros(len(ids), max(audio_lens.tolist(), default=0), dtype=torch.float32)
        for i, (p, w) in enumerate(zip(phoneme_ids, wavs)):
            phonemes[i, : len(p)] = p
            audio[i, : len(w)] = w
        return {
            "ids": ids,
            "phonemes": phonemes,
            "phoneme_lens": phoneme_lens,
            "audio": audio,
            "audio_lens": audio_lens,
            "speakers": torch.tensor(speakers, dtype=torch.long),
            "phoneme_strings": phoneme_strings,
            "texts": texts,
        }


def _duration_bins(durations: list[float], num_buckets: int) -> list[float]:
    """Bucket boundaries that put about the same number of cuts in each of ``num_buckets`` buckets."""
    ordered = sorted(durations)
    bins = sorted({ordered[len(ordered) * i // num_buckets] for i in range(1, num_buckets)})
    # One bucket still gets one boundary (above every cut): lhotse averages the bins, which warns on [].
    return bins or [ordered[-1] + 1.0]


def make_sampler(
    cuts: CutSet,
    *,
    batch_size: int | None = None,
    max_duration: float | None = None,
    shuffle: bool = True,
    seed: int = 0,
    world_size: int = 1,
    rank: int = 0,
    num_buckets: int = 10,
    drop_last: bool = False,
) -> DynamicBucketingSampler:
    """A duration-bucketed, DDP-aware, resumable sampler yielding one CutSet per mini-batch.

    ``batch_size`` caps the cuts per batch, ``max_duration`` the padded seconds per batch (give one or both).
    Each rank gets a disjoint share of every step's batches. Resume with ``state_dict()`` / ``load_state_dict()``
    on a sampler made with the same arguments. Bucket boundaries are equal-count duration quantiles computed
    here (lhotse's own estimate needs more cuts than buckets and, under a cut-count limit, leaves most buckets
    short of one batch); the bucket count is capped so that each bucket holds at least one full batch.
    """
    if batch_size is None and max_duration is None:
        raise DataError("make_sampler needs batch_size or max_duration (or both); set one in the training config")
    durations = [c.duration for c in cuts]
    if not durations:
        raise DataError("make_sampler got an empty CutSet; check the manifest and the data filters")
    buckets = min(num_buckets, len(durations))
    if batch_size is not None:
        buckets = min(buckets, len(durations) // batch_size)
    with warnings.catch_warnings():
        # Our manifests are small enough to hold in memory; lhotse warns about eager CutSets regardless.
        warnings.filterwarnings("ignore", message="You are using DynamicBucketingSampler with an eagerly read")
        return DynamicBucketingSampler(
            cuts,
            max_cuts=batch_size,
            max_duration=max_duration,
            duration_bins=_duration_bins(durations, max(1, buckets)),
            shuffle=shuffle,
            seed=seed,
            world_size=world_size,
            rank=rank,
            drop_last=drop_last,
        )


def make_dataloader(dataset: SpeechDataset, sampler: Any, num_workers: int = 0) -> DataLoader:
    """A DataLoader over ``sampler``'s batches (the sampler batches, so ``batch_size=None``)."""
    return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=num_workers)
