"""Inference speed: real-time factors (wall time / audio duration) of synthesis.

For about 2, 5, 10 and 20 s of audio, with the LJSpeech model size (``egs/ljspeech/conf/tts.yaml`` when it exists,
else encoder and decoder 384-dim, 6 layers, 6 heads, reduction 2; override with ``key=value``):

* acoustic model: fixed-length decodes (given durations, spread evenly over the phoneme ids, that sum to the
  target frames) with and without the KV cache, and their ratio; at 10 s also batches (``--batches``; default 8 on
  a CPU, and on a GPU 1, 8 and 64, the issue's batch 1 and 64), as audio seconds per second;
* Vocos (the charactr/vocos-mel-24khz architecture, random weights: speed needs no training) and Griffin-Lim;
* end to end: :class:`tts.inference.Synthesizer` from text (frontend, sentence chunks, generation, Vocos), with the
  duration predictor set to far longer durations than the length cap, and the cap set to the target duration.

Goals at 10 s: KV cache >= 5x faster than no cache; acoustic RTF <= 0.05; Vocos RTF <= 0.05; end to end <= 0.1.

``--quantize int8`` (CPU) adds the int8 copies that ``tts-synthesize --quantize int8`` uses
(:func:`tts.inference.quantize_int8`: the acoustic model's linear layers, the Vocos backbone): at every duration
the acoustic model, Vocos and end to end are timed float32 and int8 in alternation (one call of each per round,
so that a change in the CPU's load meets both alike), with their ratio; at 10 s also the relative error of the
int8 mel against float32, teacher-forced on the float32 decode (same durations) with the prenet's dropout off.

Timings are medians of ``--repeats`` runs after a warm-up. Each figure also records this process's CPU time per
call (``cpu_rtf``: close to the wall time on an idle core when one thread is used) and the CPU load meanwhile
(``bench/_common.py``). The run ends with a weight-streaming microbenchmark (the whole decoder stack, and 4 MB of it,
which stays in the CPU's cache) and a profile of the cached decode, which say where the decode time goes;
``--stream-sweep`` prints only the streaming rate for working sets from 2 MB to the whole stack.

Run: ``.venv/bin/python bench/inference_rtf.py [--config FILE] [key=value ...] [--threads 1] [--repeats 3]
[--quantize int8] [--batches N ...] [--stream-sweep]``; on a GPU: ``--device cuda``
"""
from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from _common import (
    ROOT,
    command_line,
    cpu_load,
    describe_machine,
    git_state,
    profile_table,
    synchronizer,
    time_calls,
    timing_summary,
    write_result,
)

from scraps.audio.features import HOP_LENGTH, SAMPLE_RATE
from scraps.text import PhonemeVocab, TextFrontend
from scraps.training.config import load_config, model_config
from tts.alignment import even_durations
from tts.inference import (
    FRAMES_PER_SECOND,
    QUANTIZE_MODES,
    LengthGuards,
    SynthesisError,
    Synthesizer,
    check_quantize,
    quantize_int8,
)
from tts.model import TTSConfig, TTSModel
from tts.task import TTSRecipeConfig
from tts.vocoder import VOCOS_MEL_24KHZ_CONFIG, GriffinLimVocoder, VocosVocoder, build_vocos

DEFAULT_CONFIG = ROOT / "egs" / "ljspeech" / "conf" / "tts.yaml"
LJSPEECH_SIZE = [
    f"model.{part}.{key}={value}"
    for part in ("encoder", "decoder")
    for key, value in (("dim", 384), ("layers", 6), ("heads", 6))
] + ["model.decoder.reduction=2"]
FRAMES_PER_ID = 6.1  # LJSpeech median (frames per phoneme id): sets the input length of each decode
GOALS = {"kv_speedup_10s": (">=", 5.0), "acoustic_rtf_10s": ("<=", 0.05), "vocos_rtf_10s": ("<=", 0.05),
         "end_to_end_rtf_10s": ("<=", 0.1)}  # fmt: skip
TEXT = (
    "the ferry left the harbour a little after dawn and carried its slow cargo of bicycles and sleepy farmers "
    "across the grey water toward the market town on the other shore"
)


def measure_alternating(
    fns: dict[str, Callable[[], object]], repeats: int, sync: Callable[[], None], audio_seconds: float
) -> dict[str, dict[str, Any]]:
    """Time ``repeats`` rounds of one call of each of ``fns`` in turn; per function: median wall time, mean CPU
    time of this process, both as RTFs, and the CPU load over all the rounds."""
    walls: dict[str, list[float]] = {name: [] for name in fns}
    cpus: dict[str, list[float]] = {name: [] for name in fns}
    with cpu_load() as load:
        for _ in range(repeats):
            for name, fn in fns.items():
                cpu_start = time.process_time()
                walls[name] += time_calls(fn, 1, sync)
                cpus[name].append(time.process_time() - cpu_start)
    out = {}
    for name in fns:
        timing, cpu_s = timing_summary(walls[name]), sum(cpus[name]) / repeats
        out[name] = {**timing, "cpu_s": cpu_s, "rtf": timing["median_s"] / audio_seconds,
                     "cpu_rtf": cpu_s / audio_seconds, "cpu_load": load.to_dict()}  # fmt: skip
    return out


def measure(fn: Callable[[], object], repeats: int, sync: Callable[[], None], audio_seconds: float) -> dict[str, Any]:
    """Time ``repeats`` calls: median wall time, mean CPU time of this process, CPU load, and both as RTFs."""
    return measure_alternating({"fn": fn}, repeats, sync, audio_seconds)["fn"]


def measure_pair(
    name: str,
    fns: dict[str, Callable[[], object]],
    repeats: int,
    sync: Callable[[], None],
    audio_seconds: float,
    row: dict[str, Any],
) -> None:
    """Fill ``row[name]`` from ``fns["float32"]`` and, when ``fns`` holds an "int8" function too (timed in
    alternation with it), ``row[name + "_int8"]`` and ``row[name + "_int8_speedup"]`` (float32 / int8 wall)."""
    timed = measure_alternating(fns, repeats, sync, audio_seconds)
    row[name] = timed["float32"]
    if "int8" in timed:
        row[f"{name}_int8"] = timed["int8"]
        row[f"{name}_int8_speedup"] = timed["float32"]["median_s"] / timed["int8"]["median_s"]


def teacher_forced_error(model: TTSModel, int8: TTSModel, inputs: tuple[torch.Tensor, ...], mel: torch.Tensor) -> float:
    """||int8 - float32|| / ||float32|| of the post-net mel (normalised domain), both teacher-forced on ``mel``
    (b, 100, t) with the durations of :func:`decode` and the prenet's dropout off: every step reads the same input
    and speaks the same phoneme, so errors do not compound (each model encodes the phonemes itself)."""
    t = mel.shape[2]
    lengths = torch.full((mel.shape[0],), t, device=mel.device)
    durations = fixed_durations(inputs, t)
    frames = model.normalize(mel).transpose(1, 2)
    outs = []
    for m in (model, int8):
        always = m.decoder.prenet.always_dropout
        m.decoder.prenet.always_dropout = False
        try:
            cond = m.conditioning(m.encode(*inputs), durations, t)
            outs.append(m.decoder(frames, cond, lengths)["mel_post"])
        finally:
            m.decoder.prenet.always_dropout = always
    return float((outs[1] - outs[0]).norm() / outs[0].norm())


def build_model(config: str | None, overrides: list[str]) -> tuple[TTSModel, str]:
    """The TTS model of the recipe config (LJSpeech size when there is none), its duration predictor set to 1000
    frames for every phoneme (so that a decode from predicted durations runs to its length cap)."""
    path = Path(config) if config else DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None
    if path is not None:
        cfg, source = load_config(TTSRecipeConfig, path, overrides), os.path.relpath(path, ROOT)
    else:
        cfg, source = load_config(TTSRecipeConfig, None, LJSPEECH_SIZE + overrides), " ".join(LJSPEECH_SIZE)
    vocab = PhonemeVocab.default("espeak")
    model = TTSModel(model_config(TTSConfig, cfg.model, vocab_size=len(vocab)))
    with torch.no_grad():
        model.duration_predictor.head.weight.zero_()
        model.duration_predictor.head.bias.fill_(math.log(1000.0))
    model.vocab, model.speakers = vocab, ["speaker"]
    return model.eval(), source


def phoneme_batch(model: TTSModel, frames: int, batch: int = 1) -> tuple[torch.Tensor, ...]:
    """Random phone ids as long as read speech has for ``frames`` frames: ids (b, n), id_lens (b,), speakers (b,)."""
    n = max(3, round(frames / FRAMES_PER_ID))
    phones = torch.tensor(model.vocab.phoneme_ids())
    ids = phones[torch.randint(len(phones), (batch, n), generator=torch.Generator().manual_seed(frames))]
    device = next(model.parameters()).device
    return ids.to(device), torch.full((batch,), n, device=device), torch.zeros(batch, dtype=torch.long, device=device)


def fixed_durations(inputs: tuple[torch.Tensor, ...], frames: int) -> torch.Tensor:
    """Durations (b, n) that spread ``frames`` as evenly as possible over the n ids of every item of ``inputs``."""
    ids = inputs[0]
    return even_durations(frames, ids.shape[1]).to(ids.device).expand(ids.shape[0], -1)


def decode(model: TTSModel, inputs: tuple[torch.Tensor, ...], frames: int, use_cache: bool) -> torch.Tensor:
    """A fixed-length decode of ``frames`` frames (given durations) -> mel (b, 100, frames)."""
    mel, lengths, _ = model.generate(*inputs, max_frames=frames, durations=fixed_durations(inputs, frames),
                                     use_cache=use_cache)  # fmt: skip
    assert int(lengths.min()) == int(lengths.max()) == frames
    return mel


def end_to_end(model: TTSModel, vocoder: VocosVocoder, seconds: float) -> Callable[[], float]:
    """A Synthesizer call on text sized for ``seconds`` of audio; returns the audio duration it produced."""
    frontend = TextFrontend()  # the default: normalisation on (a pass-through for text without digits)
    words = TEXT.split()
    n_words = max(2, round(seconds * FRAMES_PER_SECOND / FRAMES_PER_ID / 5.5))  # about 5.5 ids a word
    text = " ".join(words[i % len(words)] for i in range(n_words))
    ids = len(model.encode_text(text, frontend))
    guards = LengthGuards(max_len_ratio=seconds * FRAMES_PER_SECOND / ids, max_seconds=60.0)
    synth = Synthesizer(model, frontend, vocoder, guards=guards)
    return lambda: synth.synthesize_batch([text])[0].duration


def weight_stream_gbs(model: TTSModel, sync: Callable[[], None], limit_mb: float | None = None) -> float:
    """GB/s at which this machine pushes the decoder's linear weights through batch-1 matrix-vector products.

    With ``limit_mb``, only the first weight matrices up to that many MB, called over and over: a working set that
    stays in the CPU's cache, against the whole stack (which a decode step reads from memory when it does not fit).
    """
    weights = [m.weight for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)]
    if limit_mb is not None:
        sizes = torch.tensor([w.numel() * w.element_size() for w in weights]).cumsum(0)
        weights = weights[: max(1, int((sizes <= limit_mb * 1e6).sum()))]
    x = {w.shape[1]: torch.randn(1, w.shape[1], device=w.device) for w in weights}
    nbytes = sum(w.numel() * w.element_size() for w in weights)
    rounds = 1 if limit_mb is None else max(1, round(50e6 / nbytes))  # about as many bytes as the whole stack

    def once() -> None:
        for _ in range(rounds):
            for w in weights:
                F.linear(x[w.shape[1]], w)

    once()
    return rounds * nbytes / timing_summary(time_calls(once, 5, sync))["median_s"] / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="model config overrides, e.g. model.decoder.layers=4")
    parser.add_argument("--config", help="TTS recipe config (default: egs/ljspeech/conf/tts.yaml if present)")
    parser.add_argument("--durations", type=float, nargs="+", default=[2.0, 5.0, 10.0, 20.0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--nocache-max", type=float, default=10.0,
                        help="longest duration also decoded without the cache (one run above 5 s: it is quadratic)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="torch threads (default: cores); on a busy CPU, 1 can be much faster")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--quantize", choices=QUANTIZE_MODES,
                        help="also time int8 weights (tts-synthesize --quantize int8), alternating with float32")
    parser.add_argument("--batches", type=int, nargs="+",
                        help="batch sizes also decoded at 10 s, as audio seconds per second (default: 8 on a CPU; "
                             "1, 8 and 64 on a GPU)")
    parser.add_argument("--stream-sweep", action="store_true",
                        help="only print the weight-streaming rate for working sets of 2 MB up to the whole stack")
    args = parser.parse_args()
    try:
        check_quantize(args.quantize, args.device)
    except SynthesisError as exc:
        parser.error(str(exc))
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device, sync = torch.device(args.device), synchronizer(torch.device(args.device))
    model, source = build_model(args.config, args.overrides)
    model.to(device)
    vocos = VocosVocoder(build_vocos(VOCOS_MEL_24KHZ_CONFIG), "mel-24khz architecture, random weights").to(device)
    griffin_lim = GriffinLimVocoder().to(device)
    if args.stream_sweep:
        print(f"command: {command_line()}\nbatch-1 matvecs over the first N MB of the decoder's linear weights, "
              f"{torch.get_num_threads()} thread(s):")  # fmt: skip
        for limit in (2, 4, 6, 8, 10, 12, 16, 24, None):
            print(f"  {'whole stack' if limit is None else f'{limit} MB':>12}: "
                  f"{weight_stream_gbs(model, sync, limit):5.1f} GB/s")  # fmt: skip
        return
    q_model, q_vocos = quantize_int8(model, vocos) if args.quantize == "int8" else (None, None)
    stack = [p for n, p in model.decoder.named_parameters() if not n.startswith("postnet.")]
    weight_mb = sum(p.numel() * p.element_size() for p in stack) / 1e6
    print(f"command: {command_line()}")
    print(f"model: {source}; {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, of which "
          f"{weight_mb:.0f} MB in the decoder stack are read at every step; {device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads of {os.cpu_count()} CPUs"
          + ("; int8 weights timed against float32" if q_model is not None else ""))  # fmt: skip

    rows = []
    with torch.inference_mode():
        warm = phoneme_batch(model, 48)  # first calls pay for allocations and the espeak backend
        for use_cache in (True, False):
            decode(model, warm, 48, use_cache)
        for vocoder in (vocos, griffin_lim):
            vocoder(decode(model, warm, 48, True), torch.tensor([48], device=device))
        end_to_end(model, vocos, 0.5)()
        if q_model is not None:
            q_vocos(decode(q_model, warm, 48, True), torch.tensor([48], device=device))
            end_to_end(q_model, q_vocos, 0.5)()
        for seconds in args.durations:
            frames = round(seconds * FRAMES_PER_SECOND)
            audio_s = frames * HOP_LENGTH / SAMPLE_RATE
            inputs = phoneme_batch(model, frames)
            row: dict[str, Any] = {"seconds": audio_s, "frames": frames, "phoneme_ids": int(inputs[1][0])}
            acoustic = {"float32": lambda: decode(model, inputs, frames, True)}
            if q_model is not None:
                acoustic["int8"] = lambda: decode(q_model, inputs, frames, True)
            measure_pair("acoustic", acoustic, args.repeats, sync, audio_s, row)
            if seconds <= args.nocache_max:
                runs = 1 if seconds > 5 else args.repeats
                row["acoustic_nocache"] = measure(lambda: decode(model, inputs, frames, False), runs, sync, audio_s)
                row["kv_speedup"] = row["acoustic_nocache"]["median_s"] / row["acoustic"]["median_s"]
            mel, lengths = decode(model, inputs, frames, True), torch.tensor([frames], device=device)
            vocoders = {"float32": lambda: vocos(mel, lengths)}
            if q_vocos is not None:
                vocoders["int8"] = lambda: q_vocos(mel, lengths)
            measure_pair("vocos", vocoders, args.repeats, sync, audio_s, row)
            row["griffinlim"] = measure(lambda: griffin_lim(mel, lengths), args.repeats, sync, audio_s)
            synths = {"float32": end_to_end(model, vocos, audio_s)}
            if q_model is not None:
                synths["int8"] = end_to_end(q_model, q_vocos, audio_s)
            produced = synths["float32"]()
            measure_pair("end_to_end", synths, args.repeats, sync, produced, row)
            row["end_to_end"]["audio_seconds"] = produced
            if q_model is not None and seconds == 10.0:
                row["int8_mel_rel_error"] = teacher_forced_error(model, q_model, inputs, mel)
            if seconds == 10.0:
                for n in args.batches or ([1, 8, 64] if args.device == "cuda" else [8]):
                    batch = phoneme_batch(model, frames, batch=n)
                    row[f"acoustic_batch{n}"] = measure(lambda: decode(model, batch, frames, True), 1, sync, n * audio_s)
            rows.append(row)
            int8_done = f", int8 {row['acoustic_int8']['rtf']:.3f}" if q_model is not None else ""
            print(f"  {audio_s:5.1f} s done: acoustic RTF {row['acoustic']['rtf']:.3f}{int8_done}", flush=True)
        ten = min(rows, key=lambda r: abs(r["seconds"] - 10.0))
        steps_10s = ten["frames"] / model.decoder.reduction
        step_ms = ten["acoustic"]["median_s"] / steps_10s * 1e3
        stream = weight_stream_gbs(model, sync)
        stream_cached = weight_stream_gbs(model, sync, limit_mb=4.0)
        profile = profile_table(lambda: decode(model, phoneme_batch(model, ten["frames"]), ten["frames"], True),
                                device, rows=12)  # fmt: skip

    print("RTF = wall time / audio seconds (median); cpu = this process's CPU time / audio seconds (mean)")
    cols = ("audio s", "acoustic", "acoustic cpu", "no cache", "KV speedup", "Vocos", "Vocos cpu", "Griffin-Lim",
            "end to end", "e2e cpu", "others' CPU")  # fmt: skip
    if q_model is not None:
        cols += ("acoust. int8", "int8 speedup", "Vocos int8", "int8 speedup", "e2e int8")
    print("".join(f"{c:>13}" for c in cols))
    for r in rows:
        vals = [f"{r['seconds']:.2f}", f"{r['acoustic']['rtf']:.3f}", f"{r['acoustic']['cpu_rtf']:.3f}",
                f"{r['acoustic_nocache']['rtf']:.3f}" if "acoustic_nocache" in r else "-",
                f"{r['kv_speedup']:.1f}x" if "kv_speedup" in r else "-", f"{r['vocos']['rtf']:.3f}",
                f"{r['vocos']['cpu_rtf']:.3f}", f"{r['griffinlim']['rtf']:.3f}", f"{r['end_to_end']['rtf']:.3f}",
                f"{r['end_to_end']['cpu_rtf']:.3f}", f"{r['acoustic']['cpu_load']['others_share']:.0%}"]  # fmt: skip
        if q_model is not None:
            vals += [f"{r['acoustic_int8']['rtf']:.3f}", f"{r['acoustic_int8_speedup']:.2f}x",
                     f"{r['vocos_int8']['rtf']:.3f}", f"{r['vocos_int8_speedup']:.2f}x",
                     f"{r['end_to_end_int8']['rtf']:.3f}"]  # fmt: skip
        print("".join(f"{v:>13}" for v in vals))
    batch8 = ten.get("acoustic_batch8", {}).get("rtf")
    throughput = {int(k.removeprefix("acoustic_batch")): 1.0 / v["rtf"] for k, v in ten.items()
                  if k.startswith("acoustic_batch")}
    print("acoustic model at 10 s, audio seconds per second: "
          + ", ".join(f"batch {n}: {x:.1f}" for n, x in sorted(throughput.items())))
    print(f"decode step at {ten['seconds']:.0f} s: {step_ms:.1f} ms wall; the decoder stack's {weight_mb:.0f} MB of "
          f"weights stream through batch-1 matvecs at {stream:.1f} GB/s here, a floor of {weight_mb / stream:.1f} "
          f"ms/step" + (f"; a batch of 8 costs RTF {batch8:.3f} per utterance" if batch8 else ""))  # fmt: skip
    print(f"the same matvecs over 4 MB of those weights, which stay in the CPU's cache: {stream_cached:.1f} GB/s "
          f"({stream_cached / stream:.1f}x the whole stack's rate)")
    if q_model is not None:
        print(f"int8 weights at {ten['seconds']:.0f} s: acoustic RTF {ten['acoustic_int8']['rtf']:.3f} against "
              f"{ten['acoustic']['rtf']:.3f} float32 ({ten['acoustic_int8_speedup']:.2f}x; "
              f"{ten['acoustic_int8']['median_s'] / steps_10s * 1e3:.1f} ms/step), Vocos "
              f"{ten['vocos_int8_speedup']:.2f}x, end to end {ten['end_to_end_int8_speedup']:.2f}x; int8 mel against "
              f"float32, teacher-forced: relative error {ten.get('int8_mel_rel_error', float('nan')):.4f}")  # fmt: skip
    print("cached decode, operators by self time:\n" + profile)

    figures = {
        "kv_speedup_10s": ten.get("kv_speedup"),
        "acoustic_rtf_10s": ten["acoustic"]["rtf"],
        "acoustic_cpu_rtf_10s": ten["acoustic"]["cpu_rtf"],
        "acoustic_rtf_10s_batch8_per_utterance": batch8,
        **{f"acoustic_audio_s_per_s_10s_batch{n}": x for n, x in sorted(throughput.items())},
        "vocos_rtf_10s": ten["vocos"]["rtf"],
        "vocos_cpu_rtf_10s": ten["vocos"]["cpu_rtf"],
        "griffinlim_rtf_10s": ten["griffinlim"]["rtf"],
        "end_to_end_rtf_10s": ten["end_to_end"]["rtf"],
        "end_to_end_cpu_rtf_10s": ten["end_to_end"]["cpu_rtf"],
        "decode_step_ms_10s": step_ms,
        "decoder_stack_weights_mb": weight_mb,
        "weight_stream_gbs": stream,
        "weight_stream_gbs_4mb_in_cache": stream_cached,
    }
    if q_model is not None:
        figures |= {
            "acoustic_rtf_10s_int8": ten["acoustic_int8"]["rtf"],
            "acoustic_cpu_rtf_10s_int8": ten["acoustic_int8"]["cpu_rtf"],
            "acoustic_int8_speedup_10s": ten["acoustic_int8_speedup"],
            "decode_step_ms_10s_int8": ten["acoustic_int8"]["median_s"] / steps_10s * 1e3,
            "vocos_rtf_10s_int8": ten["vocos_int8"]["rtf"],
            "vocos_int8_speedup_10s": ten["vocos_int8_speedup"],
            "end_to_end_rtf_10s_int8": ten["end_to_end_int8"]["rtf"],
            "end_to_end_int8_speedup_10s": ten["end_to_end_int8_speedup"],
            "int8_mel_rel_error_10s": ten.get("int8_mel_rel_error"),
        }
    goals = {f"{k} {op} {v}": figures[k] is not None and (figures[k] >= v if op == ">=" else figures[k] <= v)
             for k, (op, v) in GOALS.items()}  # fmt: skip
    print("goals: " + ", ".join(f"{k}: {'met' if ok else 'NOT met'}" for k, ok in goals.items()))
    path = write_result("inference_rtf", {
        "command": command_line(),
        "git": git_state(),
        "machine": describe_machine(device),
        "torch_threads": torch.get_num_threads(),
        "quantize": args.quantize,
        "load_average": os.getloadavg(),
        "model": {"source": source, "overrides": args.overrides, "encoder": vars(model.config.encoder),
                  "decoder": vars(model.config.decoder), "parameters": sum(p.numel() for p in model.parameters())},
        **figures,
        "goals": goals,
        "rows": rows,
    })  # fmt: skip
    print(f"wrote {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    main()
