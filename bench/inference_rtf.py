"""Inference speed: real-time factors (wall time / audio duration) of synthesis on this machine.

For about 2, 5, 10 and 20 s of audio, with the LJSpeech model size (``egs/ljspeech/conf/tts.yaml`` when it exists,
else encoder and decoder 384-dim, 6 layers, 6 heads, reduction 2; override with ``key=value``):

* acoustic model: fixed-length decodes (stop disabled: ``min_frames = max_frames``, ``stop_threshold`` above 1)
  with and without the KV cache, and their ratio; also a batch of 8 at 10 s (throughput);
* Vocos (the charactr/vocos-mel-24khz architecture, random weights: speed needs no training) and Griffin-Lim;
* end to end: :class:`tts.inference.Synthesizer` from text (frontend, generation, Vocos), stop head disabled and
  the length cap set to the target duration.

Goals: KV cache >= 5x faster than no cache at 10 s; acoustic RTF <= 0.05; Vocos RTF <= 0.05; end to end <= 0.1.

Timings are medians of ``--repeats`` runs. The CPU may be shared: every row records the load average and the CPU
time other processes used meanwhile (from /proc/stat, in cores), and the run ends with a weight-streaming
microbenchmark and a profile of the cached decode step, which say where the decode time goes.

Run: ``.venv/bin/python bench/inference_rtf.py [--config FILE] [key=value ...] [--repeats 3]``
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from scraps.audio.features import HOP_LENGTH, SAMPLE_RATE
from scraps.nn.config import EncoderConfig
from scraps.text import PhonemeVocab, TextFrontend
from scraps.training.config import load_config
from tts.decoder import DecoderConfig
from tts.inference import FRAMES_PER_SECOND, LengthGuards, Synthesizer
from tts.model import TTSConfig, TTSModel
from tts.training import TTSRecipeConfig
from tts.vocoder import VOCOS_MEL_24KHZ_CONFIG, GriffinLimVocoder, VocosVocoder, build_vocos

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "egs" / "ljspeech" / "conf" / "tts.yaml"
LJSPEECH_SIZE = [
    f"model.{part}.{key}={value}"
    for part in ("encoder", "decoder")
    for key, value in (("dim", 384), ("layers", 6), ("heads", 6))
] + ["model.decoder.reduction=2"]
FRAMES_PER_ID = 6.1  # LJSpeech median (frames per phoneme id), sets the input length of each decode
GOALS = {"kv_speedup_10s": (">=", 5.0), "acoustic_rtf_10s": ("<=", 0.05), "vocos_rtf_10s": ("<=", 0.05),
         "end_to_end_rtf_10s": ("<=", 0.1)}  # fmt: skip
TEXT = (
    "printing in the only sense with which we are at present concerned differs from most if not from all the arts "
    "and crafts represented in the exhibition"
)


class CpuShare:
    """Load average and CPU time of other processes (in cores) over a stretch of this process's work."""

    def __init__(self) -> None:
        self.hz = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _stat() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        steal = fields[7] if len(fields) > 7 else 0
        return sum(fields[:8]) - idle - steal, steal

    def __enter__(self) -> CpuShare:
        self.start = (time.perf_counter(), time.process_time(), *self._stat())
        return self

    def __exit__(self, *exc: object) -> None:
        wall, own, busy, steal = time.perf_counter(), time.process_time(), *self._stat()
        elapsed = wall - self.start[0]
        self.others_cores = max(0.0, ((busy - self.start[2]) / self.hz - (own - self.start[1])) / elapsed)
        self.steal_cores = (steal - self.start[3]) / self.hz / elapsed
        self.load_average = os.getloadavg()[0]


def timed(fn: Callable[[], object], repeats: int) -> dict[str, float]:
    """Median wall time of ``repeats`` calls, with the CPU share of other processes meanwhile."""
    times = []
    with CpuShare() as share:
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "runs": repeats, "others_cores": round(share.others_cores, 2),
            "steal_cores": round(share.steal_cores, 2), "load_average": round(share.load_average, 2)}  # fmt: skip


def build_model(config: str | None, overrides: list[str]) -> tuple[TTSModel, str]:
    """The TTS model of the recipe config (LJSpeech size when the file is absent), stop head disabled."""
    path = Path(config) if config else DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None
    if path is not None:
        cfg, source = load_config(TTSRecipeConfig, path, overrides), str(path)
    else:
        cfg, source = load_config(TTSRecipeConfig, None, LJSPEECH_SIZE + overrides), " ".join(LJSPEECH_SIZE)
    vocab = PhonemeVocab.default("espeak")
    model = TTSModel(TTSConfig(
        vocab_size=len(vocab), encoder=EncoderConfig(**cfg.model.encoder), decoder=DecoderConfig(**cfg.model.decoder),
        speaker_dim=cfg.model.speaker_dim,
    ))  # fmt: skip
    with torch.no_grad():
        model.decoder.stop_head.weight.zero_()
        model.decoder.stop_head.bias.fill_(-1e4)  # never stops: every decode runs to its cap
    model.vocab, model.speakers = vocab, ["speaker"]
    return model.eval(), source


def phoneme_batch(model: TTSModel, frames: int, batch: int = 1) -> tuple[torch.Tensor, ...]:
    """Random phone ids of the length read speech has for ``frames`` frames: ids (b, n), id_lens (b,), speakers."""
    n = max(3, round(frames / FRAMES_PER_ID))
    phones = torch.tensor(model.vocab.phoneme_ids())
    ids = phones[torch.randint(len(phones), (batch, n), generator=torch.Generator().manual_seed(frames))]
    return ids, torch.full((batch,), n), torch.zeros(batch, dtype=torch.long)


def decode(model: TTSModel, inputs: tuple[torch.Tensor, ...], frames: int, use_cache: bool) -> torch.Tensor:
    """A fixed-length decode of ``frames`` frames -> mel (b, 100, frames)."""
    mel, lengths, _ = model.generate(
        *inputs, max_frames=frames, min_frames=frames, stop_threshold=1.1, use_cache=use_cache
    )
    assert int(lengths.min()) == frames
    return mel


def gemv_bandwidth(model: TTSModel) -> float:
    """GB/s at which this machine streams the decoder's linear weights through batch-1 matrix-vector products."""
    weights = [m.weight for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)]
    x = {w.shape[1]: torch.randn(1, w.shape[1]) for w in weights}
    nbytes = sum(w.numel() * w.element_size() for w in weights)

    def once() -> None:
        for w in weights:
            F.linear(x[w.shape[1]], w)

    return nbytes / timed(once, 5)["seconds"] / 1e9


def profile_step(model: TTSModel, frames: int) -> str:
    """The top operators of a cached fixed-length decode (self CPU time)."""
    import warnings

    from torch.profiler import ProfilerActivity, profile

    warnings.filterwarnings("ignore", message="Warning: Profiler clears events")

    inputs = phoneme_batch(model, frames)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        decode(model, inputs, frames, use_cache=True)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)


def end_to_end(model: TTSModel, vocoder: VocosVocoder, seconds: float) -> Callable[[], float]:
    """A Synthesizer call on text sized for ``seconds`` of audio; returns the audio duration it produced."""
    frontend = TextFrontend()  # the default frontend: normalisation on (a pass-through for text without digits)
    n_ids = seconds * FRAMES_PER_SECOND / FRAMES_PER_ID
    words = TEXT.split()
    text = " ".join(words[i % len(words)] for i in range(max(2, round(n_ids / 5.5))))  # ~5.5 ids a word
    ids = len(model.vocab.encode(frontend.phonemize(text)))
    guards = LengthGuards(max_len_ratio=seconds * FRAMES_PER_SECOND / ids, max_seconds=60.0)
    synth = Synthesizer(model, frontend, vocoder, guards=guards)
    return lambda: synth.synthesize_batch([text])[0].duration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="model config overrides, e.g. model.decoder.layers=4")
    parser.add_argument("--config", help=f"TTS recipe config (default {DEFAULT_CONFIG.relative_to(ROOT)} if present)")
    parser.add_argument("--durations", type=float, nargs="+", default=[2.0, 5.0, 10.0, 20.0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--nocache-max", type=float, default=10.0, help="longest duration decoded without cache")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: cores)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "inference_rtf.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_start = os.getloadavg()
    model, source = build_model(args.config, args.overrides)
    vocos = VocosVocoder(build_vocos(VOCOS_MEL_24KHZ_CONFIG), "mel-24khz architecture, random weights")
    griffin_lim = GriffinLimVocoder()
    dec_params = sum(p.numel() for n, p in model.named_parameters() if n.startswith("decoder.") and "postnet" not in n)
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"model: {source}; {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters "
          f"({dec_params / 1e6:.1f} M in the decoder stack, read at every step); torch {torch.__version__}, "
          f"{args.threads} threads of {os.cpu_count()} cores; load average {load_start[0]:.2f}")  # fmt: skip

    rows = []
    with torch.inference_mode():
        warm = phoneme_batch(model, 48)  # first calls pay for allocations, kernels and the espeak backend
        for use_cache in (True, False):
            decode(model, warm, 48, use_cache)
        for vocoder in (vocos, griffin_lim):
            vocoder(decode(model, warm, 48, True), torch.tensor([48]))
        end_to_end(model, vocos, 0.5)()
        threads = {}
        for n in sorted({1, args.threads}):  # one run each: what a second thread does to the decode here
            torch.set_num_threads(n)
            frames = round(2.0 * FRAMES_PER_SECOND)
            inputs = phoneme_batch(model, frames)
            threads[n] = timed(lambda: decode(model, inputs, frames, True), 1)["seconds"] / (frames / FRAMES_PER_SECOND)
        torch.set_num_threads(args.threads)
        print("acoustic RTF at 2 s by torch threads: " + ", ".join(f"{n}: {r:.3f}" for n, r in threads.items()))
        for seconds in args.durations:
            frames = round(seconds * FRAMES_PER_SECOND)
            audio_s = frames * HOP_LENGTH / SAMPLE_RATE
            inputs = phoneme_batch(model, frames)
            row: dict = {"seconds": audio_s, "frames": frames, "phoneme_ids": int(inputs[1][0])}
            cache = timed(lambda: decode(model, inputs, frames, True), args.repeats)
            row["acoustic_cache"] = {**cache, "rtf": cache["seconds"] / audio_s}
            if seconds <= args.nocache_max:
                nocache = timed(lambda: decode(model, inputs, frames, False), 1 if seconds > 5 else args.repeats)
                row["acoustic_nocache"] = {**nocache, "rtf": nocache["seconds"] / audio_s}
                row["kv_speedup"] = nocache["seconds"] / cache["seconds"]
            mel = decode(model, inputs, frames, True)
            lengths = torch.tensor([frames])
            for name, vocoder in (("vocos", vocos), ("griffinlim", griffin_lim)):
                t = timed(lambda: vocoder(mel, lengths), args.repeats)
                row[name] = {**t, "rtf": t["seconds"] / audio_s}
            synth = end_to_end(model, vocos, audio_s)
            produced = synth()
            t = timed(synth, args.repeats)
            row["end_to_end"] = {**t, "audio_seconds": produced, "rtf": t["seconds"] / produced}
            if seconds == 10.0:
                batch = phoneme_batch(model, frames, batch=8)
                t = timed(lambda: decode(model, batch, frames, True), 1)
                row["acoustic_cache_batch8"] = {**t, "rtf": t["seconds"] / (8 * audio_s)}
            rows.append(row)
            print(f"  {audio_s:5.1f} s done (acoustic RTF {row['acoustic_cache']['rtf']:.3f})", flush=True)
        bandwidth = gemv_bandwidth(model)
        ten = min(rows, key=lambda r: abs(r["seconds"] - 10.0))
        step_ms = ten["acoustic_cache"]["seconds"] / (ten["frames"] / model.decoder.reduction) * 1e3
        profile = profile_step(model, ten["frames"])

    cols = ("audio s", "acoustic RTF", "no-cache RTF", "KV speedup", "Vocos RTF", "Griffin-Lim RTF", "end-to-end RTF",
            "others (cores)")  # fmt: skip
    print("".join(f"{c:>16}" for c in cols))
    for r in rows:
        vals = [f"{r['seconds']:.2f}", f"{r['acoustic_cache']['rtf']:.3f}",
                f"{r['acoustic_nocache']['rtf']:.3f}" if "acoustic_nocache" in r else "-",
                f"{r['kv_speedup']:.1f}x" if "kv_speedup" in r else "-", f"{r['vocos']['rtf']:.3f}",
                f"{r['griffinlim']['rtf']:.3f}", f"{r['end_to_end']['rtf']:.3f}",
                f"{r['acoustic_cache']['others_cores']:.2f}"]  # fmt: skip
        print("".join(f"{v:>16}" for v in vals))
    weight_mb = dec_params * 4 / 1e6
    print(f"decode step at {ten['seconds']:.1f} s: {step_ms:.1f} ms for {weight_mb:.0f} MB of decoder weights; this "
          f"machine streams them through batch-1 matvecs at {bandwidth:.1f} GB/s -> floor "
          f"{weight_mb / bandwidth:.1f} ms/step; batch of 8 at 10 s: per-utterance RTF "
          f"{ten.get('acoustic_cache_batch8', {}).get('rtf', float('nan')):.3f}")  # fmt: skip
    print("cached decode profile (self CPU time):\n" + profile)

    result = {
        "command": shlex.join(["python", *sys.argv]),
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "platform": platform.platform(),
                    "torch": torch.__version__},  # fmt: skip
        "torch_threads": torch.get_num_threads(),
        "acoustic_rtf_2s_by_threads": threads,
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "model": {"source": source, "encoder": vars(model.config.encoder), "decoder": vars(model.config.decoder),
                  "decoder_stack_weights_mb": round(weight_mb, 1)},  # fmt: skip
        "kv_speedup_10s": ten.get("kv_speedup"),
        "acoustic_rtf_10s": ten["acoustic_cache"]["rtf"],
        "acoustic_rtf_10s_batch8_per_utterance": ten.get("acoustic_cache_batch8", {}).get("rtf"),
        "vocos_rtf_10s": ten["vocos"]["rtf"],
        "griffinlim_rtf_10s": ten["griffinlim"]["rtf"],
        "end_to_end_rtf_10s": ten["end_to_end"]["rtf"],
        "decode_step_ms_10s": step_ms,
        "gemv_weight_bandwidth_gbs": bandwidth,
        "rows": rows,
    }
    result["goals"] = {
        f"{k} {op} {v}": result[k] is not None and (result[k] >= v if op == ">=" else result[k] <= v)
        for k, (op, v) in GOALS.items()
    }
    print("goals: " + ", ".join(f"{k}: {'met' if ok else 'NOT met'}" for k, ok in result["goals"].items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    main()
