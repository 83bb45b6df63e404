"""Probe: how much ``torch.compile`` of the decoder's transformer layers speeds up batch-1 cached decoding on the CPU.

Not used by synthesis (``tts-synthesize`` runs eager): this measures whether a compiled decode step is worth
building, the step that ``bench/README.md`` names as missing for the acoustic RTF goal. It times fixed-length decodes
(given durations, as ``inference_rtf.py``) of the LJSpeech config's model size, or of ``key=value`` overrides, first
eager, then with every decoder layer's ``forward`` wrapped in ``torch.compile(dynamic=True)`` (the KV cache's
length changes every step), and prints both RTFs, their ratio and the compile time. Compiling needs a C++ compiler.

    .venv/bin/python bench/compiled_decode.py [--threads 2] [--seconds 10] [--repeats 3] [key=value ...]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from _common import command_line, cpu_load
from inference_rtf import FRAMES_PER_SECOND, build_model, decode, phoneme_batch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("overrides", nargs="*", help="model config overrides, e.g. model.decoder.layers=3")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, source = build_model(None, args.overrides)
    frames = round(args.seconds * FRAMES_PER_SECOND)
    inputs = phoneme_batch(model, frames)
    audio_s = frames / FRAMES_PER_SECOND

    def rtf() -> float:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            decode(model, inputs, frames, use_cache=True)
            times.append(time.perf_counter() - start)
        return statistics.median(times) / audio_s

    print(f"command: {command_line()}")
    print(f"model: {source} {' '.join(args.overrides)}; {torch.get_num_threads()} thread(s); {audio_s:.1f} s of audio")
    with cpu_load() as load:
        decode(model, inputs, frames, use_cache=True)  # warm-up
        eager = rtf()
        start = time.perf_counter()
        for layer in model.decoder.layers:
            layer.forward = torch.compile(layer.forward, dynamic=True)
        decode(model, inputs, frames, use_cache=True)  # compiles
        compile_s = time.perf_counter() - start
        compiled = rtf()
    print(f"acoustic RTF eager {eager:.3f}, compiled layers {compiled:.3f} ({eager / compiled:.2f}x); "
          f"compiling and the first decode took {compile_s:.0f} s")  # fmt: skip
    print(load.summary())


if __name__ == "__main__":
    main()
