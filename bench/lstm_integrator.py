"""SCRAPS integrator on the CPU: forward + backward of ``lstm_last_state`` against ``nn.LSTM`` on packed sequences.

Both compute the same thing from the same weights (``tests/test_lstm.py``); this prints how long one forward and
backward takes each way and their ratio, for the demo size (128 wide, batch 16 of about 3 s: 71 acoustic frames
after x4 subsampling, 40 phonemes) and the LJSpeech size (512 wide, 6.6 s: 165 frames, 85 phonemes). The two are
timed in alternation, so a change in the CPU's load meets both alike.

    .venv/bin/python bench/lstm_integrator.py [--threads 1] [--repeats 7]
"""
from __future__ import annotations

import argparse
import statistics

import torch
from _common import command_line, cpu_load, time_calls

from scraps.model import LSTMIntegrator

CASES = [("demo, acoustic", 128, 71), ("demo, phonetic", 128, 40), ("LJSpeech, acoustic", 512, 165),
         ("LJSpeech, phonetic", 512, 85)]  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--batch", type=int, default=16)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"command: {command_line()}")
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}, median of {args.repeats}")
    print("| case | width | steps | nn.LSTM packed (ms) | lstm_last_state (ms) | ratio |")
    print("|---|---|---|---|---|---|")
    with cpu_load() as load:
        rows = [measure(width, steps, args.batch, args.repeats) for _, width, steps in CASES]
    for (name, width, steps), (a, b) in zip(CASES, rows):
        print(f"| {name} | {width} | {steps} | {a:.1f} | {b:.1f} | {a / b:.2f}x |")
    print(load.summary())


def measure(width: int, steps: int, batch: int, repeats: int) -> tuple[float, float]:
    """Median ms of one forward + backward: (nn.LSTM on packed sequences, lstm_last_state)."""
    torch.manual_seed(0)
    integ = LSTMIntegrator(width, width)
    x = torch.randn(batch, steps, width, requires_grad=True)
    lengths = torch.randint(steps * 3 // 4, steps + 1, (batch,))
    lengths[0] = steps

    def packed() -> None:
        integ.packed(x, lengths).sum().backward()

    def ours() -> None:
        integ(x, lengths).sum().backward()

    times = {packed: [], ours: []}
    for fn in (packed, ours):
        fn()  # warm-up
    for _ in range(repeats):
        for fn in (packed, ours):
            times[fn] += time_calls(fn, 1, lambda: None)
    return statistics.median(times[packed]) * 1e3, statistics.median(times[ours]) * 1e3


if __name__ == "__main__":
    main()
