"""``tts-synthesize``: text -> 24 kHz 16-bit mono WAV with a TTS export; ``tts-evaluate``: free-running output
against reference recordings.

    tts-synthesize --model DIR --text "Hello, it is 3:30 pm." --out hello.wav
    tts-synthesize --model DIR --text-file lines.txt --out-dir wavs/      # one utterance per line
    echo "text" | tts-synthesize --model DIR --text - --out out.wav
    tts-synthesize --model DIR --list-speakers
    tts-synthesize --model DIR --text "..." --out out.wav --quantize int8  # int8 weights: faster on a CPU

Prints per utterance the audio duration, the wall time and the real-time factor, and a warning line when a sentence
reached its length cap. A user error (bad model directory, unknown speaker, text with nothing to say, unwritable
output, ...) ends in one line on stderr and exit code 2. With ``--text-file`` a bad line is reported and skipped
(blank lines are ignored); the exit code is 0 when at least one file was written, else 2.

    tts-evaluate --model DIR --cuts cuts_test.jsonl.gz --out report/ [--scraps SCRAPS_DIR] [--asr pocketsphinx]

synthesises the texts of a manifest for their speakers and writes report.md / report.json / utterances.png with
MCD-DTW, length ratio, SCRAPS score and retrieval, and WER, for the model and its two baselines (see
:mod:`tts.evaluation`). Unusable cuts are skipped and counted; a user error ends in one line and exit code 2.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from scraps.audio.features import SAMPLE_RATE
from scraps.data.prepare import DataError
from scraps.export import ModelDirError
from scraps.text import TextError
from tts.inference import QUANTIZE_MODES, LengthGuards, Synthesizer, SynthesisError, Utterance
from tts.model import TTSModel
from tts.vocoder import VOCOS_DIR_ENV, VocoderError

USER_ERRORS = (ModelDirError, VocoderError, SynthesisError, TextError)


class CLIError(Exception):
    """A user error found by the command line itself (input or output paths)."""


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return int(value)


def _positive_float(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        x = float("nan")
    if not x > 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}")
    return x


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tts-synthesize",
        description="Synthesise 24 kHz speech with a scraps-tts TTS export.",
        epilog=f"Vocoder 'auto' uses ${VOCOS_DIR_ENV} or a cached charactr/vocos-mel-24khz, else Griffin-Lim.",
    )
    p.add_argument("--model", required=True, help="TTS export directory (config.yaml, model.safetensors, ...)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--text", help="text to speak; '-' reads it from stdin")
    src.add_argument("--text-file", help="UTF-8 file with one utterance per line ('-' for stdin)")
    p.add_argument("--out", help="output .wav for --text")
    p.add_argument("--out-dir", help="output folder for --text-file (files named by line number)")
    p.add_argument("--speaker", help="speaker name, else id (default: id 0)")
    p.add_argument("--list-speakers", action="store_true", help="print the model's speakers and exit")
    p.add_argument("--vocoder", default="auto", help="auto | griffinlim | Vocos hub id | Vocos directory")
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument(
        "--quantize", choices=QUANTIZE_MODES,
        help="int8: int8 weights for the acoustic model and a Vocos backbone (CPU only; mels within a few %%)",
    )  # fmt: skip
    p.add_argument("--batch-size", type=_positive_int, default=8, help="sentences generated together")
    p.add_argument("--seed", type=int, default=0, help="seed for the prenet's inference dropout")
    p.add_argument("--pace", type=_positive_float, default=1.0,
                   help="speaking rate: 1.2 makes every phoneme 1.2x shorter, 0.8 longer (default 1.0)")
    p.add_argument(
        "--max-len-ratio", type=_positive_float, default=LengthGuards.max_len_ratio,
        help="cap on generated frames per phoneme id (a sentence reaching it is reported)",
    )  # fmt: skip
    return p


def _check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.list_speakers:
        return
    if args.text is None and args.text_file is None:
        p.error("give --text TEXT (or -) with --out, or --text-file FILE with --out-dir")
    if args.text is not None and (args.out is None or args.out_dir is not None):
        p.error("--text writes one file: give --out FILE.wav (not --out-dir)")
    if args.text_file is not None and (args.out_dir is None or args.out is not None):
        p.error("--text-file writes one file per line: give --out-dir DIR (not --out)")


def _writable_file(path: Path) -> Path:
    """Check before synthesising that ``path`` (a .wav) can be written; create its folder."""
    if path.is_dir():
        raise CLIError(f"output {path} is a directory; give a file name such as {path / 'out.wav'}")
    if path.suffix.lower() != ".wav":
        raise CLIError(f"output {path} must end in .wav (the output is a WAV file)")
    _writable_dir(path.parent)
    if path.exists() and not os.access(path, os.W_OK):
        raise CLIError(f"cannot write {path}: permission denied; choose another --out")
    return path


def _writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and check that files can be written in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create output folder {path}: {exc.strerror or exc}; choose another path") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise CLIError(f"cannot write into {path}: permission denied; choose another path")
    return path


def _read_text(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CLIError(f"text file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise CLIError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror or exc}") from None


def write_wav(path: Path, wave: np.ndarray) -> None:
    """wave (samples,) float in [-1, 1] -> 24 kHz 16-bit PCM mono WAV (clipped)."""
    try:
        sf.write(str(path), np.clip(wave, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16", format="WAV")
    except (OSError, RuntimeError) as exc:  # soundfile's LibsndfileError is a RuntimeError
        raise CLIError(f"cannot write {path}: {str(exc).splitlines()[0]}; choose another output") from None


def _report(name: str, utt: Utterance, guards: LengthGuards) -> None:
    print(f"{name}: {utt.duration:.2f} s of audio in {utt.wall_time:.2f} s (RTF {utt.rtf:.3f})", flush=True)
    if utt.hit_cap:
        print(
            f"warning: {name}: {utt.capped} of {utt.sentences} sentence(s) reached the length cap "
            f"({guards.max_len_ratio:g} frames per phoneme, at most {guards.max_seconds:g} s) and were cut there; "
            "their predicted durations are far too long (an undertrained model?)",
            file=sys.stderr,
        )


def _run(args: argparse.Namespace) -> int:
    if args.list_speakers:
        for i, name in enumerate(TTSModel.from_pretrained(args.model).speakers or []):
            print(f"{i}\t{name}")
        return 0
    if args.text is not None:
        out = _writable_file(Path(args.out))
        text = _read_text("-") if args.text == "-" else args.text
    elif args.text_file is not None:
        out_dir = _writable_dir(Path(args.out_dir))
        numbered = [(n, line) for n, line in enumerate(_read_text(args.text_file).splitlines(), 1) if line.strip()]
        if not numbered:
            raise CLIError(f"{args.text_file} holds no text (all lines are blank)")
    start = time.perf_counter()
    synth = Synthesizer.from_pretrained(
        args.model, vocoder=args.vocoder, device=args.device, guards=LengthGuards(max_len_ratio=args.max_len_ratio),
        quantize=args.quantize, pace=args.pace,
    )  # fmt: skip
    speaker = synth.speaker_id(args.speaker)
    weights = " with int8 weights" if args.quantize == "int8" else ""
    print(
        f"loaded {args.model} (speaker {speaker}: {synth.speakers[speaker]}) and {synth.vocoder.name} "
        f"on {synth.device}{weights} in {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
    )
    torch.manual_seed(args.seed)
    progress = sys.stderr.isatty()
    if args.text is not None:
        [utt] = synth.synthesize_batch([text], speaker, args.batch_size, progress)
        if utt.error is not None:
            raise TextError(utt.error)
        write_wav(out, utt.wave)
        _report(str(out), utt, synth.guards)
        return 0
    width = max(4, len(str(numbered[-1][0])))
    written = 0
    for g in range(0, len(numbered), args.batch_size):
        group = numbered[g : g + args.batch_size]
        utts = synth.synthesize_batch([line for _, line in group], speaker, args.batch_size, progress)
        for (n, _), utt in zip(group, utts):
            if utt.error is not None:
                print(f"skipped line {n}: {utt.error}", file=sys.stderr)
                continue
            path = out_dir / f"{n:0{width}d}.wav"
            write_wav(path, utt.wave)
            _report(str(path), utt, synth.guards)
            written += 1
    skipped = len(numbered) - written
    print(f"wrote {written} file(s) to {out_dir}, skipped {skipped} line(s)", file=sys.stderr)
    return 0 if written else 2


def _guarded(run, args: argparse.Namespace) -> int:
    """Run a command; a user error prints one line and returns 2, Ctrl-C returns 130. Log lines of the tts
    package (e.g. the vocoder's Griffin-Lim fallback notice) go to stderr meanwhile."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger("tts")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        return run(args)
    except (CLIError, *USER_ERRORS) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``tts-synthesize``; returns the exit code (0 ok, 2 user error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    return _guarded(_run, args)


def build_evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tts-evaluate",
        description="Synthesise a manifest's texts free-running and measure them against the recordings "
        "(MCD-DTW, length ratio, SCRAPS score and retrieval, WER), beside a ceiling and a floor baseline.",
    )
    p.add_argument("--model", required=True, help="TTS export directory")
    p.add_argument("--cuts", required=True, help="lhotse manifest (cuts_*.jsonl.gz) with phonemes, e.g. the test set")
    p.add_argument("--out", required=True, help="output folder for report.md, report.json and utterances.png")
    p.add_argument("--scraps", help="SCRAPS export (same phoneme vocabulary): adds SCRAPS score and recall@1")
    p.add_argument("--asr", choices=("pocketsphinx",), help="adds WER (meaningful for real voices only)")
    p.add_argument("--vocoder", default="auto",
                   help="auto | griffinlim | none (measure mels, no audio) | Vocos hub id | Vocos directory")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--speakers", help="comma-separated speaker names: evaluate only their cuts")
    who.add_argument("--only-model-speakers", action="store_true",
                     help="evaluate only the cuts of speakers the model has (others are left out, not counted as skipped)")
    p.add_argument("--max-utts", type=_positive_int, help="evaluate at most this many usable utterances")
    p.add_argument("--batch-size", type=_positive_int, default=16, help="utterances synthesised together")
    p.add_argument("--seed", type=int, default=0, help="seed of the prenet's inference dropout and the retrieval")
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--plots", type=int, default=4, help="utterances drawn in utterances.png")
    return p


def _evaluate(args: argparse.Namespace) -> int:
    from lhotse import CutSet

    from scraps.evaluation import ASRUnavailable, make_recognizer
    from scraps.model import ScrapsModel
    from tts.evaluation import evaluate_tts, load_tts_eval_set
    from tts.inference import resolve_device
    from tts.report import write_report
    from tts.vocoder import load_vocoder

    cuts_path = Path(args.cuts)
    if not cuts_path.is_file():
        raise CLIError(f"manifest not found: {cuts_path}; give a cuts_*.jsonl.gz written by scraps.data.prepare")
    try:
        cuts = CutSet.from_file(cuts_path)
    except Exception as exc:  # lhotse raises many kinds for a file that is not a manifest
        raise CLIError(f"cannot read {cuts_path} as a lhotse manifest ({str(exc).splitlines()[0]})") from None
    out_dir = _writable_dir(Path(args.out))
    device = resolve_device(args.device)
    model = TTSModel.from_pretrained(args.model).to(device)
    if args.speakers:
        keep = set(args.speakers.split(","))
        unknown = sorted(keep - set(model.speakers or []))
        if unknown:
            raise SynthesisError(f"--speakers {unknown} are not speakers of {args.model}; see --list-speakers")
        cuts = cuts.filter(lambda c: c.supervisions[0].speaker in keep)
    elif args.only_model_speakers:
        keep = set(model.speakers or [])
        cuts = cuts.filter(lambda c: c.supervisions[0].speaker in keep)
    scraps = ScrapsModel.from_pretrained(args.scraps).to(device) if args.scraps else None
    if scraps is not None and scraps.vocab != model.vocab:
        raise ModelDirError(f"{args.scraps}: its phoneme vocabulary differs from the TTS model's; use a SCRAPS "
                            "export trained on the same manifests")
    try:
        asr = make_recognizer(args.asr) if args.asr else None
    except ASRUnavailable as exc:
        raise CLIError(str(exc)) from None
    vocoder = None if args.vocoder == "none" else load_vocoder(args.vocoder, device)
    data = load_tts_eval_set(cuts, model, args.max_utts)
    for s in data.skipped:
        print(f"skipped {s['id']}: {s['reason']}", file=sys.stderr)
    try:
        report = evaluate_tts(model, data, vocoder, scraps=scraps, asr=asr, seed=args.seed,
                              batch_size=args.batch_size)  # fmt: skip
    except DataError as exc:
        raise CLIError(str(exc)) from None
    from scraps.audio import MelSpectrogram

    mel = MelSpectrogram()
    references = [mel(w[None])[0] for w in data.waves[: args.plots]]
    paths = write_report(report, out_dir, references, n_plots=args.plots)
    s = report["summary"]["model"]
    shown = ", ".join(f"{k} {v:.3g}" for k, v in s.items() if v is not None)
    print(f"{report['n_utterances']} utterances ({report['n_skipped']} skipped): {shown}; wrote "
          + ", ".join(str(p) for p in paths))
    return 0


def evaluate_main(argv: list[str] | None = None) -> int:
    """Entry point of ``tts-evaluate``; returns the exit code (0 ok, 2 user error)."""
    return _guarded(_evaluate, build_evaluate_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
