"""Phonemisation speed of the text frontend (goal: 1,000 sentences in under 2 s with espeak, no normalisation).

    .venv/bin/python bench/g2p_throughput.py [--g2p espeak|cmudict] [--n 1000] [--repeats 5]

Uses the real LJSpeech transcripts in ../shared/data when present, else the demo sentence generator.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from scraps.text import TextFrontend

LJ = Path(__file__).resolve().parents[2] / "shared" / "data" / "ljspeech_subset" / "metadata_full_13100.csv"


def sentences(n: int) -> tuple[list[str], str]:
    if LJ.is_file():
        rows = [line.split("|")[-1] for line in LJ.read_text().splitlines() if line.strip()]
        return rows[:n], "LJSpeech transcripts (normalised column)"
    from scraps.data.demo import generate_sentences

    return generate_sentences(n, seed=0), "demo sentence generator"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--g2p", default="espeak")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    texts, source = sentences(args.n)
    fe = TextFrontend(g2p=args.g2p, normalize=False)
    fe.phonemize_batch(texts[:10])  # backend creation is not part of the measurement
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        fe.phonemize_batch(texts)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"{args.g2p}: {len(texts)} sentences ({source}) in {med:.2f} s (median of {args.repeats}); "
          f"{len(texts) / med:.0f} sentences/s; goal < 2 s for 1,000 -> {'met' if med * 1000 / len(texts) < 2 else 'missed'}")


if __name__ == "__main__":
    main()
