"""Helpers shared by the benchmarks: machine description, CPU-load accounting, timing, FLOP counting, results.

Also the harness of the training-step benchmarks (``scraps_throughput.py``, ``tts_throughput.py``): their
command line, a stub data directory that lets the real recipe tasks be built without a corpus, a synthetic
batch, and one training step as the training loop takes it.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from lhotse import CutSet, MonoCut, SupervisionSegment
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from scraps.audio import SAMPLE_RATE
from scraps.text import PhonemeVocab, TextFrontend
from scraps.text.vocab import SPECIALS
from scraps.training.loop import param_groups

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"

# Dense bf16 tensor-core peak (TFLOP/s, no sparsity), keyed by a substring of torch.cuda.get_device_name().
# Checked in order: "H100 PCIe" must win over a plain "H100". Anything else (H100 NVL, ...) is "unknown".
BF16_PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0),
    ("H100 80GB HBM3", 989.0),  # how an H100 SXM names itself
    ("H100 SXM", 989.0),
    ("H200", 989.0),
    ("A100", 312.0),
)


# ------------------------------------------------------------------------------------------ machine and command
def command_line() -> str:
    """The command that ran this process, the interpreter shown relative to the repository when inside it."""
    exe = Path(sys.executable)
    shown = os.path.relpath(exe, ROOT) if exe.is_relative_to(ROOT) else str(exe)
    script = Path(sys.argv[0]).resolve()
    argv0 = os.path.relpath(script, ROOT) if script.is_relative_to(ROOT) else sys.argv[0]
    return shlex.join([shown, argv0, *sys.argv[1:]])


def git_state() -> dict[str, Any]:
    """HEAD commit and whether the working tree has changes (None values outside a git checkout)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain")
    return {"commit": git("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe_machine(device: torch.device) -> dict[str, Any]:
    """CPU, thread counts, torch build and (on CUDA) the GPU: what a reader needs to compare two results."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return info


def bf16_peak_tflops(device_name: str) -> float | None:
    """Dense bf16 peak of a known GPU (see :data:`BF16_PEAK_TFLOPS`), else None."""
    return next((peak for key, peak in BF16_PEAK_TFLOPS if key in device_name), None)


# --------------------------------------------------------------------------------------------- CPU accounting
def _system_jiffies() -> tuple[int, int, int] | None:
    """(total, idle + iowait, steal) jiffies of all CPUs from the aggregate line of /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return user + nice + system + idle + iowait + irq + softirq + steal, idle + iowait, steal


def _own_jiffies() -> int | None:
    """User + system clock ticks of this process (all its threads) from /proc/self/stat."""
    try:
        after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(after_name[11]) + int(after_name[12])  # fields 14 (utime) and 15 (stime)


@dataclass
class CpuLoad:
    """What the CPUs did while a measurement ran; shares are fractions of all CPUs' time in the window."""

    loadavg_before: float
    loadavg_after: float
    own_share: float | None = None
    others_share: float | None = None
    steal_share: float | None = None
    idle_share: float | None = None
    window_s: float = 0.0

    @property
    def shared(self) -> bool:
        """True when other processes (or the hypervisor) took a noticeable part of the CPUs (over 10%)."""
        return (self.others_share or 0.0) + (self.steal_share or 0.0) > 0.10

    def summary(self) -> str:
        """One line for the console."""
        if self.own_share is None:
            return f"CPU load: 1-min load average {self.loadavg_before:.2f} -> {self.loadavg_after:.2f} (no /proc)"
        return (
            f"CPU load during the measurement ({self.window_s:.0f} s, {os.cpu_count()} CPUs): this process "
            f"{self.own_share:.0%}, other processes {self.others_share:.0%}, steal {self.steal_share:.0%}, "
            f"idle {self.idle_share:.0%}; 1-min load average {self.loadavg_before:.2f} -> {self.loadavg_after:.2f}"
            + (" -- CPU SHARED: figures are pessimistic" if self.shared else "")
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy, with the ``shared`` verdict."""
        keys = ("loadavg_before", "loadavg_after", "own_share", "others_share", "steal_share", "idle_share")
        out: dict[str, Any] = {k: None if getattr(self, k) is None else round(getattr(self, k), 3) for k in keys}
        return {**out, "window_s": round(self.window_s, 2), "shared": self.shared}


@contextmanager
def cpu_load() -> Iterator[CpuLoad]:
    """Measure, over the ``with`` body, this process's CPU time against every CPU's busy time (/proc/stat)."""
    load = CpuLoad(loadavg_before=os.getloadavg()[0], loadavg_after=0.0)
    sys_before, own_before, start = _system_jiffies(), _own_jiffies(), time.perf_counter()
    yield load
    sys_after, own_after = _system_jiffies(), _own_jiffies()
    load.window_s = time.perf_counter() - start
    load.loadavg_after = os.getloadavg()[0]
    if None in (sys_before, sys_after, own_before, own_after):
        return
    total = max(1, sys_after[0] - sys_before[0])
    idle = sys_after[1] - sys_before[1]
    steal = sys_after[2] - sys_before[2]
    own = own_after - own_before
    load.own_share = own / total
    load.steal_share = steal / total
    load.idle_share = idle / total
    load.others_share = max(0.0, (total - idle - steal - own) / total)


# -------------------------------------------------------------------------------------------- timing and FLOPs
def synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits for the device's queued work (a no-op on CPU)."""
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)


def time_calls(fn: Callable[[], None], repeats: int, sync: Callable[[], None]) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``fn``, each timed alone (device work included through ``sync``)."""
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return times


def timing_summary(times: list[float]) -> dict[str, Any]:
    """Median, min, max and every repeat (seconds)."""
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "repeats_s": [round(t, 5) for t in times]}


def count_flops(fn: Callable[[], None]) -> int:
    """FLOPs of one call of ``fn`` as torch's FlopCounterMode counts them (matmuls, convolutions, attention).

    cuDNN is switched off for the call: FlopCounterMode has no formula for cuDNN's fused RNN kernel, while the
    native LSTM is made of matmuls it counts. Elementwise work (norms, activations, the optimiser) is not counted.
    """
    with torch.backends.cudnn.flags(enabled=False), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def profile_table(fn: Callable[[], None], device: torch.device, rows: int = 20) -> str:
    """torch.profiler's table of the operators of one call of ``fn``, by self time on the device."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        fn()
        synchronizer(device)()
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` (with the date added), atomically."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    payload = {"benchmark": name, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), **payload}
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)
    return path


# ------------------------------------------------------------------------------------ training-step benchmarks
CPU_BATCH = 16  # default batch on CPU: a GPU-sized batch would make one step take minutes


def training_parser(description: str, default_config: str) -> argparse.ArgumentParser:
    """The command line both training-step benchmarks share."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", type=Path, default=ROOT / default_config, help=f"default: {default_config}")
    parser.add_argument("--batch-size", type=int, default=None,
                        help=f"utterances per step (default on CUDA: the config's train.batch_size, within "
                             f"train.max_duration; on CPU: {CPU_BATCH})")
    parser.add_argument("--seconds", type=float, default=6.5,
                        help="mean utterance duration; each varies uniformly by +-10%% (LJSpeech mean: 6.6 s)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 20 on CUDA, 5 on CPU)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed steps after the FLOP-counting one (default: 3 on CUDA, 1 on CPU)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bf16", action="store_true", help="autocast to bfloat16 (as train.mixed_precision=bf16)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's own); on a busy CPU, 1 can be much faster")
    parser.add_argument("--profile", action="store_true", help="also print the operators of one step by self time")
    parser.add_argument("overrides", nargs="*", help="config overrides, key=value (e.g. train.lr=5e-4)")
    return parser


def run_settings(args: argparse.Namespace, train_cfg: Any, device: torch.device) -> tuple[int, int, int, str]:
    """(batch size, timed steps, warm-up steps, how the batch size was chosen) from the flags and the config;
    also applies ``--threads``.

    On CUDA the default batch is the config's: ``train.batch_size``, lowered so that it fits
    ``train.max_duration`` padded seconds when the longest utterance is ``--seconds`` + 10%.
    """
    gpu = device.type == "cuda"
    if args.batch_size is not None:
        batch, how = args.batch_size, "--batch-size"
    elif not gpu:
        batch, how = CPU_BATCH, f"CPU default ({CPU_BATCH}, not the config's {train_cfg.batch_size})"
    else:
        batch, how = train_cfg.batch_size, "the config's train.batch_size"
        if train_cfg.max_duration is not None:
            fits = int(train_cfg.max_duration // (1.1 * args.seconds))
            if fits < batch:
                batch, how = fits, f"the config's train.max_duration ({train_cfg.max_duration:g} padded seconds)"
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    steps = args.steps if args.steps is not None else (20 if gpu else 5)
    warmup = args.warmup if args.warmup is not None else (3 if gpu else 1)
    if batch < 1 or steps < 1 or warmup < 0:
        raise SystemExit(f"need batch size >= 1, steps >= 1 and warmup >= 0, got {batch}, {steps}, {warmup}")
    return batch, steps, warmup, how


def write_stub_data_dir(path: Path, speakers: int = 1) -> None:
    """What the recipe tasks read from a data directory, with no audio: the frontend report and a train manifest.

    ``prepare_report.json`` names the default text frontend (hence the fixed ``PhonemeVocab.default()``);
    ``cuts_train.jsonl.gz`` holds one recording-less cut per speaker, for the TTS task's speaker map, with a
    phoneme string as data preparation stores it (the TTS task keeps the training sentences' phonemes).
    """
    path.mkdir(parents=True, exist_ok=True)
    frontend = TextFrontend()
    (path / "prepare_report.json").write_text(json.dumps({"frontend": frontend.config()}))
    phonemes = " ".join(frontend.vocab.symbols[i] for i in frontend.vocab.phoneme_ids()[:3])
    cuts = [
        MonoCut(id=f"stub-{i}", start=0.0, duration=1.0, channel=0, supervisions=[
            SupervisionSegment(id=f"stub-{i}", recording_id=f"stub-{i}", start=0.0, duration=1.0, speaker=f"spk{i}",
                               custom={"phonemes": phonemes})
        ])
        for i in range(speakers)
    ]
    CutSet.from_cuts(cuts).to_file(path / "cuts_train.jsonl.gz")


def synthetic_batch(
    batch_size: int, seconds: float, vocab: PhonemeVocab, device: torch.device, phonemes_per_second: float = 13.0,
    seed: int = 0,
) -> dict[str, Any]:
    """A batch shaped like ``SpeechDataset``'s: noise waveforms of ``seconds`` +-10% at 24 kHz and random phoneme
    ids (about ``phonemes_per_second`` per second of audio, framed by bos/eos, padded), all of speaker 0."""
    gen = torch.Generator().manual_seed(seed)
    durations = seconds * (0.9 + 0.2 * torch.rand(batch_size, generator=gen, dtype=torch.float64))
    audio_lens = (durations * SAMPLE_RATE).round().long()
    phoneme_lens = (durations * phonemes_per_second).round().long() + 2
    audio = 0.1 * torch.randn(batch_size, int(audio_lens.max()), generator=gen)
    audio *= torch.arange(audio.shape[1])[None, :] < audio_lens[:, None]
    phonemes = torch.full((batch_size, int(phoneme_lens.max())), vocab.pad_id, dtype=torch.long)
    strings = []
    for i, n in enumerate(phoneme_lens.tolist()):
        body = torch.randint(len(SPECIALS), len(vocab), (n - 2,), generator=gen)  # no special symbols inside
        phonemes[i, :n] = torch.cat([torch.tensor([vocab.bos_id]), body, torch.tensor([vocab.eos_id])])
        strings.append(" ".join(vocab.symbols[j] for j in body.tolist()))
    return {
        "ids": [f"synthetic-{i}" for i in range(batch_size)],
        "phonemes": phonemes.to(device),
        "phoneme_lens": phoneme_lens.to(device),
        "audio": audio.to(device),
        "audio_lens": audio_lens.to(device),
        "speakers": torch.zeros(batch_size, dtype=torch.long, device=device),
        "phoneme_strings": strings,
    }


def training_step_fn(task: Any, model: torch.nn.Module, batch: dict, train_cfg: Any, device: torch.device,
                     bf16: bool) -> Callable[[], None]:
    """One optimiser step as ``scraps.training.loop`` takes it: the task's training_step (under bf16 autocast when
    asked), backward, gradient clipping, AdamW over the loop's parameter groups, the task's after-step hook.

    Left out: data loading, the learning-rate schedule, logging, gradient accumulation and DDP.
    The loss must stay finite (reading it syncs the device once per step, as the loop does).
    """
    optimizer = torch.optim.AdamW(param_groups(model, train_cfg.weight_decay), lr=train_cfg.lr,
                                  betas=tuple(train_cfg.betas))
    generator = torch.Generator(device=device).manual_seed(train_cfg.seed)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss, _ = task.training_step(model, batch, 0, generator)
        if not math.isfinite(float(loss.detach())):
            raise RuntimeError(f"non-finite loss {float(loss.detach())} in the benchmark step; lower train.lr")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        task.after_optimizer_step(model)

    return step


@dataclass
class StepMeasurement:
    """Timing, FLOPs and CPU load of a training-step benchmark."""

    flops_per_step: int
    warmup: int
    timing: dict[str, Any]
    load: CpuLoad
    peak_memory_gib: float | None


def run_training_benchmark(args: argparse.Namespace, schema: type, task_cls: type) -> tuple:
    """Build the recipe's task and model from ``args.config`` (+ overrides) on a stub data dir, make a synthetic
    batch and time training steps. Returns (device, model, batch, batch_how, measurement)."""
    import tempfile

    from scraps.training.config import ConfigError, load_config

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda, but torch sees no CUDA device; use --device cpu")
    with tempfile.TemporaryDirectory() as data_dir:
        write_stub_data_dir(Path(data_dir))
        try:
            cfg = load_config(schema, args.config, [*args.overrides, f"data.dir={data_dir}"])
        except ConfigError as exc:
            raise SystemExit(f"error: {exc}") from None
        task = task_cls(cfg)
    model = task.build_model().to(device).train()
    batch_size, steps, warmup, batch_how = run_settings(args, cfg.train, device)
    batch = synthetic_batch(batch_size, args.seconds, task.vocab, device)
    step = training_step_fn(task, model, batch, cfg.train, device, args.bf16)
    return device, model, batch, batch_how, measure_steps(step, device, steps, warmup, args.profile)


def measure_steps(step: Callable[[], None], device: torch.device, steps: int, warmup: int,
                  profile: bool) -> StepMeasurement:
    """Count one step's FLOPs (that step also warms up), run ``warmup`` more, then time ``steps`` steps."""
    flops = count_flops(step)
    sync = synchronizer(device)
    time_calls(step, warmup, sync)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with cpu_load() as load:
        times = time_calls(step, steps, sync)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    if profile:
        print(profile_table(step, device))
    return StepMeasurement(flops, warmup, timing_summary(times), load, peak)


def flops_figures(m: StepMeasurement, device: torch.device, bf16: bool) -> dict[str, Any]:
    """Counted FLOPs per step, achieved TFLOP/s, and (CUDA + bf16) the fraction of the GPU's bf16 dense peak."""
    achieved = m.flops_per_step / m.timing["median_s"] / 1e12
    out: dict[str, Any] = {"counted_tflop_per_step": m.flops_per_step / 1e12, "achieved_tflops": achieved,
                           "bf16_peak_tflops": None, "fraction_of_bf16_peak": None}
    if device.type == "cuda" and bf16:
        peak = bf16_peak_tflops(torch.cuda.get_device_name(device))
        out["bf16_peak_tflops"] = peak if peak is not None else "unknown"
        out["fraction_of_bf16_peak"] = achieved / peak if peak is not None else "unknown"
    return out


def format_flops(f: dict[str, Any]) -> str:
    """One console line for :func:`flops_figures`."""
    line = f"counted FLOPs: {f['counted_tflop_per_step']:.3f} TFLOP/step, achieved {f['achieved_tflops']:.3f} TFLOP/s"
    frac = f["fraction_of_bf16_peak"]
    if frac is None:
        return line + "; fraction of bf16 peak: n/a (CUDA with --bf16 only)"
    if frac == "unknown":
        return line + "; fraction of bf16 peak: unknown (GPU not in bench/_common.py's table)"
    return line + f"; {frac:.1%} of the {f['bf16_peak_tflops']:.0f} TFLOP/s bf16 dense peak"


def goal_verdict(value: float, goal: float, device: torch.device, bf16: bool) -> str:
    """'met' / 'NOT met' on an H100 with bf16 (where the goals are stated), else 'not applicable'."""
    on_h100 = device.type == "cuda" and "H100" in torch.cuda.get_device_name(device)
    if not (on_h100 and bf16):
        return "not applicable (the goal is for one H100 with --bf16)"
    return "met" if value >= goal else "NOT met"


@dataclass
class Figure:
    """One headline number of a benchmark: JSON key, console label, value."""

    key: str
    label: str
    value: float


def report_training(name: str, args: argparse.Namespace, device: torch.device, model: torch.nn.Module,
                    batch: dict, batch_how: str, m: StepMeasurement, figures: list[Figure],
                    goal: tuple[str, float, str], references: tuple[str, ...] = ()) -> None:
    """Print a training-step benchmark's figures and write them, with the settings, to bench/results/<name>.json.

    ``goal`` is (figure key, target value, what the target is stated for); ``references`` are published figures
    to compare with, one sentence each.
    """
    seconds = batch["audio_lens"].double().cpu() / SAMPLE_RATE
    b = len(seconds)
    flops = flops_figures(m, device, args.bf16)
    key, target, stated_for = goal
    value = next(f.value for f in figures if f.key == key)
    verdict = goal_verdict(value, target, device, args.bf16)
    precision = "bf16 autocast" if args.bf16 else "float32"
    config = os.path.relpath(args.config.resolve(), ROOT) if args.config.resolve().is_relative_to(ROOT) else str(
        args.config)
    notes = []
    if device.type == "cpu":
        notes.append(f"CPU run with batch {b} ({batch_how}); the goal is for one H100 with --bf16.")
    if m.load.shared:
        notes.append("The CPU was shared with other processes during the timed steps (see cpu_load): the figures "
                     "are pessimistic for this machine.")
        if device.type == "cpu" and torch.get_num_threads() > 1:
            notes.append("Several torch threads on a busy CPU wait for each other's time slices; --threads 1 "
                         "is often much faster there.")

    print(f"command: {command_line()}")
    print(f"config: {config} {' '.join(args.overrides)}".rstrip())
    print(f"device: {device} ({describe_machine(device).get('gpu', _cpu_model())}), {precision}, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads; batch {b} ({batch_how}), utterances "
          f"{seconds.mean():.2f} s mean ({seconds.min():.2f}-{seconds.max():.2f}), synthetic, on the device")
    print(f"step time: median {m.timing['median_s']:.4f} s over {len(m.timing['repeats_s'])} steps (min "
          f"{m.timing['min_s']:.4f}, max {m.timing['max_s']:.4f}) after {m.warmup + 1} warm-up step(s), the first "
          f"counting FLOPs")
    for f in figures:
        print(f"  {f.label:<34}{f.value:>14,.2f}")
    print(format_flops(flops))
    if m.peak_memory_gib is not None:
        print(f"peak GPU memory allocated: {m.peak_memory_gib:.1f} GiB")
    print(f"goal: {key} >= {target:,.0f} on {stated_for}: {verdict}")
    for ref in references:
        print(f"for scale: {ref}")
    print(m.load.summary())
    for note in notes:
        print(f"note: {note}")

    path = write_result(name, {
        "command": command_line(),
        "git": git_state(),
        "machine": describe_machine(device),
        "config": config,
        "overrides": list(args.overrides),
        "settings": {
            "device": device.type, "precision": precision, "batch_size": b, "batch_size_from": batch_how,
            "seconds_per_utterance": {"mean": round(float(seconds.mean()), 3), "min": round(float(seconds.min()), 3),
                                      "max": round(float(seconds.max()), 3)},
            "phonemes_per_utterance_mean": round(float(batch["phoneme_lens"].double().mean()), 1),
            "warmup_steps": m.warmup + 1, "timed_steps": len(m.timing["repeats_s"]),
            "data": "synthetic batch already on the device (no data loading)",
        },
        "model": {"parameters": sum(p.numel() for p in model.parameters())},
        "timing": m.timing,
        "figures": {f.key: f.value for f in figures},
        "flops": flops,
        "peak_gpu_memory_gib": m.peak_memory_gib,
        "goal": {"figure": key, "target": target, "stated_for": stated_for, "verdict": verdict},
        "references": list(references),
        "cpu_load": m.load.to_dict(),
        "notes": notes,
    })
    print(f"wrote {os.path.relpath(path, ROOT)}")
