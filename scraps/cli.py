"""The ``scraps`` command: score (phonemes, audio) pairs with a SCRAPS export, or evaluate one on a test manifest.

    scraps score --model DIR --audio FILE (--text "..." | --phonemes "...")
    scraps score --model DIR --list pairs.csv --out scores.csv        # rows 'audio|text'
    scraps evaluate --model DIR --cuts cuts_test.jsonl.gz --out report_dir/ [--seed 0] [--asr pocketsphinx]
    scraps intelligibility --model DIR --cuts cuts_test.jsonl.gz --out report_dir/ --asr pocketsphinx

A problem the user can fix (bad path, unreadable audio, empty text, not a SCRAPS export) ends in one line on
stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import torch
from lhotse import CutSet

from scraps.audio import AudioError, load_audio
from scraps.data.prepare import DataError
from scraps.evaluation import (
    ASRUnavailable,
    EvalSet,
    check_audio,
    encode_phonemes,
    evaluate,
    load_eval_set,
    make_recognizer,
    score_ids_audios,
    write_report,
)
from scraps.export import ModelDirError
from scraps.model import ScrapsModel
from scraps.progress import progress
from scraps.text import TextError

USER_ERRORS = (ModelDirError, AudioError, TextError, DataError, ASRUnavailable)
LIST_COLUMNS = ("line", "audio", "text", "score", "error")


class UsageError(ValueError):
    """Options that do not go together."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + error
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scraps", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    common = _Parser(add_help=False)
    common.add_argument("--model", required=True, type=Path, help="SCRAPS export directory (config.yaml, ...)")
    common.add_argument("--batch-size", type=_positive_int, default=16, help="utterances per forward pass")
    common.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")

    about = "SCRAPS score (cosine in [-1, 1]) of one (audio, text) pair, or of a list of pairs"
    score = sub.add_parser("score", parents=[common], help=about, description=about)
    score.add_argument("--audio", type=Path, help="wav/flac file (one pair)")
    what = score.add_mutually_exclusive_group()
    what.add_argument("--text", help="its transcript (goes through the export's text frontend)")
    what.add_argument("--phonemes", help="its phonemes: space-separated symbols of the model's vocab.json")
    score.add_argument("--list", type=Path, help="many pairs: one 'audio|text' row per line (paths relative to it)")
    score.add_argument("--out", type=Path, help="with --list: CSV to write (line,audio,text,score,error)")
    score.set_defaults(func=_score)

    about = "retrieval, phoneme-substitution sensitivity and noise robustness report (JSON, markdown, PNG)"
    ev = sub.add_parser("evaluate", parents=[common], help=about, description=about)
    ev.add_argument("--cuts", required=True, type=Path, help="test manifest (lhotse CutSet, e.g. cuts_test.jsonl.gz)")
    ev.add_argument("--out", required=True, type=Path, help="report directory (report.json, report.md, *.png)")
    ev.add_argument("--seed", type=_seed, default=0, help="seed of every random draw")
    ev.add_argument("--asr", choices=["pocketsphinx"], help="also correlate scores with an ASR's word error rate")
    ev.add_argument(
        "--asr-utts", type=_positive_int, default=10,
        help="utterances the ASR decodes, clean and under each of the 7 noise conditions (pocketsphinx takes 1-3 "
        "s of CPU per second of audio, more in noise)",
    )  # fmt: skip
    ev.set_defaults(func=_evaluate)

    about = "SCRAPS score against an ASR's word error rate under graded degradations (JSON, markdown, PNG)"
    it = sub.add_parser("intelligibility", parents=[common], help=about, description=about)
    it.add_argument("--cuts", required=True, type=Path, help="test manifest of real speech (lhotse CutSet)")
    it.add_argument("--out", required=True, type=Path, help="report directory (intelligibility.{json,md}, PNG)")
    it.add_argument("--asr", required=True, choices=["pocketsphinx"], help="the recogniser that gives the WER")
    it.add_argument("--seed", type=_seed, default=0, help="seed of every random draw")
    it.add_argument(
        "--max-utts", type=_positive_int,
        help="decode only the first N usable utterances (default all; each is decoded under 9 audio conditions)",
    )  # fmt: skip
    it.add_argument(
        "--reuse-asr", type=Path, metavar="REPORT",
        help="take the transcripts from an earlier intelligibility.json of the same cuts, seed and ASR (e.g. of "
        "another model: the degraded audio does not depend on the model) instead of decoding again",
    )  # fmt: skip
    it.set_defaults(func=_intelligibility)
    return parser


def _load_model(args: argparse.Namespace) -> ScrapsModel:
    return ScrapsModel.from_pretrained(args.model).to(args.device)


# ----------------------------------------------------------------------------------------------------- score
def _score(args: argparse.Namespace) -> int:
    if args.list is not None:
        if args.audio is not None or args.text is not None or args.phonemes is not None or args.out is None:
            raise UsageError("--list takes --out FILE and no --audio/--text/--phonemes (texts come from the list)")
        return _score_list(args)
    if args.audio is None or (args.text is None and args.phonemes is None) or args.out is not None:
        raise UsageError("give --audio FILE with --text TEXT or --phonemes SYMBOLS, or --list FILE --out FILE")
    model = _load_model(args)
    if args.phonemes is not None:
        ids = encode_phonemes(model, args.phonemes)
    else:
        ids = model.encode_text(args.text)
    wav = load_audio(args.audio)
    check_audio(wav, model, str(args.audio))
    print(f"{score_ids_audios(model, [ids], [wav])[0]:.6f}")
    return 0


def _list_rows(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """(line number, audio field, text field) for every non-blank line; text is None in a line without '|'."""
    if not path.is_file():
        raise UsageError(f"pair list not found: {path}; give a file of 'audio|text' lines")
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if line.strip():
                audio, sep, text = line.partition("|")
                yield number, audio.strip(), text.strip() if sep else None


def _score_list(args: argparse.Namespace) -> int:
    model = _load_model(args)
    frontend = model.frontend()
    rows = list(_list_rows(args.list))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    chunk_size = 16 * args.batch_size  # rows whose audio is held at once
    scored = 0
    with open(args.out, "w", newline="", encoding="utf-8") as f, progress(total=len(rows), desc="scoring") as bar:
        writer = csv.writer(f)
        writer.writerow(LIST_COLUMNS)
        for start in range(0, len(rows), chunk_size):
            chunk = rows[start : start + chunk_size]
            errors: dict[int, str] = {}
            good: list[tuple[int, list[int], torch.Tensor]] = []
            for k, (number, audio, text) in enumerate(chunk):
                try:
                    if not audio or text is None:
                        raise UsageError("expected a row 'audio|text'")
                    ids = model.encode_text(text, frontend)
                    wav = load_audio(args.list.parent / audio)
                    check_audio(wav, model, audio)
                    good.append((k, ids, wav))
                except (AudioError, TextError, UsageError) as exc:
                    errors[k] = str(exc)
                    bar.write(f"{args.list}:{number}: skipped: {exc}", file=sys.stderr)
            ks, ids, waves = [g[0] for g in good], [g[1] for g in good], [g[2] for g in good]
            by_row = dict(zip(ks, score_ids_audios(model, ids, waves, args.batch_size)))
            for k, (number, audio, text) in enumerate(chunk):
                score = f"{by_row[k]:.6f}" if k in by_row else ""
                writer.writerow((number, audio, text, score, errors.get(k, "")))
            scored += len(good)
            bar.update(len(chunk))
    skipped = len(rows) - scored
    print(
        f"scored {scored} of {len(rows)} rows of {args.list} -> {args.out}"
        + (f"; {skipped} skipped (reason in its 'error' column)" if skipped else ""),
        file=sys.stderr,
    )
    if not scored:
        raise UsageError(f"no row of {args.list} could be scored (see the 'error' column of {args.out})")
    return 0


# -------------------------------------------------------------------------------------------------- evaluate
def _read_cuts(path: Path) -> CutSet:
    if not path.is_file():
        raise DataError(f"manifest not found: {path}; give a CutSet such as data/manifests/cuts_test.jsonl.gz")
    try:
        cuts = CutSet.from_file(path).to_eager()
    except Exception as exc:  # lhotse raises many types for a file that is not a manifest
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot read manifest {path}: {reason}; give a lhotse CutSet (.jsonl.gz)") from None
    if len(cuts) == 0:
        raise DataError(f"manifest {path} holds no cuts")
    return cuts


def _model_and_cuts(args: argparse.Namespace) -> tuple[ScrapsModel, EvalSet]:
    """The model of --model and the usable cuts of --cuts; each cut left out is named on stderr."""
    model = _load_model(args)
    data = load_eval_set(_read_cuts(args.cuts), model)
    for skip in data.skipped:
        print(f"skipped cut {skip['id']}: {skip['reason']}", file=sys.stderr)
    return model, data


def _evaluate(args: argparse.Namespace) -> int:
    asr = make_recognizer(args.asr) if args.asr else None  # fail before the long part
    model, data = _model_and_cuts(args)
    report = {
        "model": str(args.model),
        "cuts": str(args.cuts),
        **evaluate(model, data, seed=args.seed, batch_size=args.batch_size, asr=asr, asr_utts=args.asr_utts),
    }
    paths = write_report(report, args.out)
    r, s = report["retrieval"], report["sensitivity"]["0.2"]
    print(
        f"{report['n_utterances']} utterances: R@1 p2a {r['p2a']['r1']:.3f} a2p {r['a2p']['r1']:.3f}; "
        f"20 % phones substituted: score fell for {100 * s['fell']:.0f} %; "
        f"noise a=0.75: {100 * report['robustness']['gauss_0.75']['mean_relative_change']:+.1f} %"
    )
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


# ------------------------------------------------------------------------------------------- intelligibility
def _intelligibility(args: argparse.Namespace) -> int:
    from scraps.intelligibility import intelligibility, transcripts_of, write_intelligibility_report

    asr = make_recognizer(args.asr)  # fail before the long part
    known = None
    if args.reuse_asr is not None:
        try:
            known = transcripts_of(json.loads(args.reuse_asr.read_text()), args.seed, asr.description)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"--reuse-asr {args.reuse_asr}: cannot use it: {exc}") from None
    model, data = _model_and_cuts(args)
    report = {
        "model": str(args.model),
        "cuts": str(args.cuts),
        **intelligibility(model, data, asr, seed=args.seed, batch_size=args.batch_size, max_utts=args.max_utts,
                          transcripts=known),
    }
    paths = write_intelligibility_report(report, args.out)
    failed = sum(report["failures"].values())
    print(
        f"{report['n_utterances']} utterances, {report['n_pairs']} (utterance, condition) pairs: "
        f"Spearman(score, WER) {report['spearman_score_wer']}"
        + (f"; {failed} pairs counted as failures ({', '.join(f'{k} {v}' for k, v in report['failures'].items())})"
           if failed else "")
    )
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``scraps`` console script; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a parse error already printed as one line
        return int(exc.code or 0)
    try:
        return args.func(args)
    except (*USER_ERRORS, UsageError) as exc:
        message = " ".join(str(exc).split())
    except OSError as exc:  # e.g. an output path that cannot be written
        message = f"{exc.strerror or exc}: {exc.filename or ''}".strip(": ")
    print(f"scraps {args.command}: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
