"""Data pipeline benchmark: utterances/s through the dataloader, and padding efficiency of bucketed batches.

Builds (once, in a cache folder) an espeak-ng demo corpus, prepares it, then measures

* throughput: utterances/s and audio seconds/s through ``make_dataloader`` (load + resample + collate), and the
  same with the mel spectrogram computed on the CPU;
* padding efficiency: real mel frames / padded mel frames, for duration-bucketed batches from ``make_sampler``
  and for random batches of the same sizes. Goal: bucketed >= 0.90.

Run: ``.venv/bin/python bench/data_throughput.py [--batch-size 16] [--num-workers 0]``
"""
from __future__ import annotations

import argparse
import os
import random
import shlex
import sys
import time
from pathlib import Path

import torch
from lhotse import CutSet

from scraps.audio import SAMPLE_RATE, MelSpectrogram, num_frames
from scraps.data import SpeechDataset, make_dataloader, make_sampler, prepare_csv
from scraps.text import TextFrontend

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scraps-tts" / "bench_data"


def padding_efficiency(batches: list[list[float]]) -> float:
    """Real mel frames / padded mel frames over batches given as lists of durations (seconds)."""
    frames = [[num_frames(round(d * SAMPLE_RATE)) for d in batch] for batch in batches]
    return sum(sum(f) for f in frames) / sum(len(f) * max(f) for f in frames)


def random_batches(durations: list[float], sizes: list[int], seed: int) -> list[list[float]]:
    """``durations`` shuffled and cut into batches of ``sizes`` (the same sizes the bucketed sampler made)."""
    shuffled = random.Random(seed).sample(durations, len(durations))
    out, start = [], 0
    for size in sizes:
        out.append(shuffled[start : start + size])
        start += size
    return out


def throughput(
    cuts: CutSet, dataset: SpeechDataset, batch_size: int, num_workers: int, mel: bool
) -> tuple[float, float]:
    """(utterances/s, audio seconds/s) over one epoch of ``cuts``, after one warm-up batch."""
    mel_fn = MelSpectrogram() if mel else None
    loader = make_dataloader(dataset, make_sampler(cuts, batch_size=batch_size, seed=0), num_workers=num_workers)
    it = iter(loader)
    next(it)  # warm-up: resampler kernels, worker start
    utts, samples, start = 0, 0, time.perf_counter()
    with torch.inference_mode():
        for batch in it:
            if mel_fn is not None:
                mel_fn(batch["audio"])
            utts += len(batch["ids"])
            samples += int(batch["audio_lens"].sum())
    elapsed = time.perf_counter() - start
    return utts / elapsed, samples / SAMPLE_RATE / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="demo corpus + manifests go here")
    parser.add_argument("--num-speakers", type=int, default=4)
    parser.add_argument("--utts-per-speaker", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--num-workers", type=int, default=0)
    args = parser.parse_args()
    from scraps.data.demo import write_demo_corpus

    frontend = TextFrontend()
    corpus = write_demo_corpus(  # idempotent: synthesises only on the first run
        args.cache_dir / f"demo_{args.num_speakers}x{args.utts_per_speaker}", num_speakers=args.num_speakers,
        utts_per_speaker=args.utts_per_speaker, seed=0,
    )
    splits = prepare_csv(corpus / "metadata.csv", corpus / "prepared", frontend, num_dev=10, num_test=10)
    cuts = splits["train"]
    dataset = SpeechDataset(frontend.vocab)

    bucketed = [[c.duration for c in b] for b in make_sampler(cuts, batch_size=args.batch_size, seed=0)]
    sizes = [len(b) for b in bucketed]
    eff_bucketed = padding_efficiency(bucketed)
    eff_random = padding_efficiency(random_batches([c.duration for c in cuts], sizes, seed=0))
    load = throughput(cuts, dataset, args.batch_size, args.num_workers, mel=False)
    with_mel = throughput(cuts, dataset, args.batch_size, args.num_workers, mel=True)

    durations = [c.duration for c in cuts]
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"corpus: {len(cuts)} train utterances, {sum(durations) / 60:.1f} min, {min(durations):.2f}-"
          f"{max(durations):.2f} s; batch_size={args.batch_size}, num_workers={args.num_workers}, "
          f"torch threads={torch.get_num_threads()}")
    print(f"{'measure':<36}{'value':>10}")
    print(f"{'load + collate (utts/s)':<36}{load[0]:>10.1f}")
    print(f"{'load + collate (audio s/s)':<36}{load[1]:>10.1f}")
    print(f"{'load + collate + CPU mel (utts/s)':<36}{with_mel[0]:>10.1f}")
    print(f"{'load + collate + CPU mel (audio s/s)':<36}{with_mel[1]:>10.1f}")
    print(f"{'padding efficiency, bucketed':<36}{eff_bucketed:>10.3f}")
    print(f"{'padding efficiency, random':<36}{eff_random:>10.3f}")
    print(f"bucketed / random efficiency: {eff_bucketed / eff_random:.2f}x "
          f"(goal: bucketed >= 0.90: {'met' if eff_bucketed >= 0.90 else 'NOT met'})")


if __name__ == "__main__":
    main()
