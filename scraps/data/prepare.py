"""Corpus preparation: a folder of speech + transcripts -> checked, phonemised lhotse manifests.

Writes ``out_dir/cuts_{train,dev,test}.jsonl.gz`` and ``out_dir/prepare_report.json``. Every row is checked
(audio exists, is readable, non-empty, finite, not truncated, within the duration limits; text is non-empty and
pronounceable); a bad row is skipped and counted by reason in the report, never dropped silently. G2P runs here,
once, batched, and its output is stored in each supervision's ``custom["phonemes"]``: training never phonemises.
A split may be empty (``--num-dev 0``, or train and dev of an evaluation-only set): its manifest is written empty.

Command line::

    python -m scraps.data.prepare ljspeech --corpus-dir LJSpeech-1.1 --out-dir data/ljspeech
    python -m scraps.data.prepare csv --csv my_corpus/metadata.csv --out-dir data/my_corpus
    python -m scraps.data.prepare lhotse --recordings R.jsonl.gz --supervisions S.jsonl.gz --out-dir data/part
    python -m scraps.data.prepare csv --csv other.csv --out-dir data/other --num-dev 0 --num-test N   # N rows: test only
    python -m scraps.data.prepare demo --out-dir data/demo --num-speakers 8 --utts-per-speaker 150
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import soundfile as sf
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment
from lhotse.audio import AudioSource

from scraps.audio.features import truncated_wav
from scraps.progress import progress

if TYPE_CHECKING:
    from scraps.text import TextFrontend

SPLITS = ("train", "dev", "test")
REPORT_NAME = "prepare_report.json"
LJSPEECH_URL = "https://keithito.com/LJ-Speech-Dataset/"
_G2P_CHUNK = 256  # rows phonemised per call; a failing chunk is redone row by row to find the bad rows
_NUM_EXAMPLES = 5  # example ids/paths kept in the report per skip reason
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


class DataError(ValueError):
    """A corpus, manifest or data argument the user gave cannot be used; the message says what to do."""


@dataclass
class _Row:
    """One candidate utterance: ``where`` locates it in the metadata file for the report."""

    id: str
    audio: Path
    text: str
    speaker: str
    where: str


@dataclass
class _Skips:
    """Skipped rows counted by reason, with a few examples of each."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, where: str) -> None:
        self.counts[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < _NUM_EXAMPLES:
            shown.append(where)

    def summary(self) -> str:
        total = sum(self.counts.values())
        if not total:
            return "skipped 0"
        return f"skipped {total}: " + ", ".join(f"{r}={n}" for r, n in sorted(self.counts.items()))


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines of a UTF-8 metadata file as (line number, line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (byte {exc.start}); re-save it as UTF-8") from None
    return [(n, line.rstrip("\r")) for n, line in enumerate(text.split("\n"), 1) if line.strip()]


def _unsafe(path_text: str) -> bool:
    """A path we refuse to open: control characters, or a URL / remote spec instead of a local file."""
    return bool(_CONTROL_CHARS.search(path_text)) or "://" in path_text


def _ljspeech_rows(corpus_dir: Path, metadata: Path, speaker: str, skips: _Skips) -> list[_Row]:
    rows = []
    for n, line in _read_lines(metadata):
        fields = line.split("|")
        utt_id = fields[0].strip()
        where = f"{metadata.name}:{n} {utt_id}".rstrip()
        if len(fields) not in (2, 3) or not utt_id:
            skips.add("malformed_row", where)
            continue
        if _unsafe(utt_id) or "/" in utt_id or "\\" in utt_id or utt_id in (".", ".."):
            skips.add("unsafe_path", where)
            continue
        audio = corpus_dir / "wavs" / f"{utt_id}.wav"
        if not audio.exists() and audio.with_suffix(".flac").exists():
            audio = audio.with_suffix(".flac")
        rows.append(_Row(utt_id, audio, fields[1].strip(), speaker, where))
    return rows


def _csv_rows(csv_path: Path, skips: _Skips) -> list[_Row]:
    base = csv_path.parent
    rows = []
    for n, line in _read_lines(csv_path):
        fields = [f.strip() for f in line.split("|")]
        if n == 1 and [f.lower() for f in fields] == ["path", "text", "speaker"]:
            continue  # a header line
        where = f"{csv_path.name}:{n} {fields[0]}"
        if len(fields) != 3 or not fields[0] or not fields[2]:
            skips.add("malformed_row", where)
            continue
        if _unsafe(fields[0]) or _unsafe(fields[2]):
            skips.add("unsafe_path", where)
            continue
        rows.append(_Row("", base / fields[0], fields[1], fields[2], where))
    # Ids: file stems when they are unique (the usual case), else paths relative to the CSV's folder.
    stems = Counter(p.stem for p in {r.audio.resolve() for r in rows})
    for r in rows:
        rel = r.audio.relative_to(base) if r.audio.is_relative_to(base) else Path(*r.audio.parts[1:])
        r.id = r.audio.stem if stems[r.audio.stem] == 1 else "-".join((*rel.parts[:-1], r.audio.stem))
    return rows


def _lhotse_rows(recordings_path: Path, supervisions_path: Path, skips: _Skips) -> list[_Row]:
    """Rows from a lhotse RecordingSet + SupervisionSet (e.g. written by ``lhotse.recipes.prepare_librispeech``):
    one per supervision that covers the whole of a recording stored as one local file."""
    from lhotse import RecordingSet, SupervisionSet

    try:
        recordings = {r.id: r for r in RecordingSet.from_file(recordings_path)}
        supervisions = list(SupervisionSet.from_file(supervisions_path))
    except Exception as exc:  # lhotse raises many types for a file that is not a manifest
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"cannot read lhotse manifests {recordings_path} / {supervisions_path}: {reason}; give the "
            f"recordings and supervisions .jsonl.gz files a lhotse recipe wrote"
        ) from None
    rows = []
    for sup in supervisions:
        where = f"{supervisions_path.name} {sup.id}"
        rec = recordings.get(sup.recording_id)
        if rec is None:
            skips.add("missing_recording", where)
            continue
        if len(rec.sources) != 1 or rec.sources[0].type != "file":
            skips.add("unsupported_recording", where)  # several files, a URL, or audio held in memory
            continue
        if sup.start > 0.01 or abs(sup.duration - rec.duration) > 0.01:
            skips.add("partial_recording", where)  # one utterance per file is what the manifests here describe
            continue
        if _unsafe(rec.sources[0].source) or _unsafe(sup.id):
            skips.add("unsafe_path", where)
            continue
        rows.append(_Row(sup.id, Path(rec.sources[0].source), (sup.text or "").strip(), sup.speaker or "unknown",
                         where))
    return rows


def _check_audio(
    path: Path, recording_id: str, min_duration: float, max_duration: float
) -> tuple[str | None, Recording | None]:
    """(skip reason, None) for unusable audio, else (None, a Recording of the file)."""
    if not path.exists():
        return "missing_audio", None
    if not path.is_file():
        return "unsafe_path", None  # a directory, FIFO or device: never read
    if path.stat().st_size == 0:
        return "empty_audio", None
    try:
        info = sf.info(str(path))
        frames = 0
        for block in sf.blocks(str(path), blocksize=1 << 16, dtype="float32", always_2d=True):
            if not np.isfinite(block).all():
                return "non_finite_audio", None
            frames += block.shape[0]
    except (sf.LibsndfileError, RuntimeError, ValueError):
        return "unreadable_audio", None
    if truncated_wav(info.extra_info):
        return "truncated_audio", None
    if frames == 0:
        return "empty_audio", None
    duration = frames / info.samplerate
    if duration < min_duration:
        return "too_short", None
    if duration > max_duration:
        return "too_long", None
    source = AudioSource(type="file", channels=list(range(info.channels)), source=str(path.resolve()))
    return None, Recording(
        id=recording_id, sources=[source], sampling_rate=info.samplerate, num_samples=frames, duration=duration
    )


def _phonemize(frontend: TextFrontend, texts: list[str]) -> list[tuple[str, list[str]] | None]:
    """(normalized text, phoneme tokens) per text, or None where it has nothing to pronounce.

    Phonemes come from the raw text, exactly as at synthesis time (the frontend normalises internally).
    """
    from scraps.text import TextError

    results: list[tuple[str, list[str]] | None] = []
    for start in progress(range(0, len(texts), _G2P_CHUNK), desc="g2p", unit="chunk", leave=False):
        chunk = texts[start : start + _G2P_CHUNK]
        try:
            analyzed = frontend.analyze_batch(chunk)
        except TextError:  # one text has nothing to pronounce: the chunk one by one, that text left out
            analyzed = []
            for text in chunk:
                try:
                    analyzed += frontend.analyze_batch([text])
                except TextError:
                    analyzed.append(("", []))
        results += [(normalized, toks) if any(t != "|" for t in toks) else None for normalized, toks in analyzed]
    return results


def seeded_order(ids: list[str], seed: int | str) -> list[str]:
    """``ids`` ranked by a hash of (seed, id): a fixed shuffle for each seed that does not depend on their order."""
    return sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())


def _split(ids: list[str], num_dev: int, num_test: int, seed: int) -> dict[str, list[str]]:
    """Deterministic split for ``seed`` that does not depend on row order: ids ranked by a seeded hash."""
    ranked = seeded_order(ids, seed)
    held_out = num_dev + num_test
    parts = {"dev": ranked[:num_dev], "test": ranked[num_dev:held_out], "train": ranked[held_out:]}
    return {name: sorted(part) for name, part in parts.items()}


def _manifest_paths(out_dir: Path) -> dict[str, Path]:
    return {name: out_dir / f"cuts_{name}.jsonl.gz" for name in SPLITS}


def _load_if_prepared(out_dir: Path, parameters: dict[str, Any], frontend_config: dict) -> dict[str, CutSet] | None:
    report_path = out_dir / REPORT_NAME
    manifests = _manifest_paths(out_dir)
    if not report_path.is_file() or not all(p.is_file() for p in manifests.values()):
        return None
    report = json.loads(report_path.read_text())
    if report.get("parameters") != parameters or report.get("frontend") != frontend_config:
        return None
    print(f"already prepared: {report['kept']} utterances in {out_dir} (force=True / --force redoes it)")
    return {name: read_manifest(p) for name, p in manifests.items()}


def _prepare(
    rows_of: Callable[[_Skips], list[_Row]],
    metadata: Path,
    out_dir: str | Path,
    frontend: TextFrontend | None,
    parameters: dict[str, Any],
    force: bool,
) -> dict[str, CutSet]:
    """The one implementation behind every corpus format: ``rows_of(skips)`` parses the metadata into rows."""
    from scraps.text import TextFrontend

    out_dir = Path(out_dir)
    frontend = frontend or TextFrontend()
    frontend_config = json.loads(json.dumps(frontend.config()))  # as the report stores it (tuples -> lists)
    parameters = {**parameters, "metadata": str(metadata.resolve()),
                  "metadata_sha256": hashlib.sha256(metadata.read_bytes()).hexdigest()}
    if not force and (prepared := _load_if_prepared(out_dir, parameters, frontend_config)) is not None:
        return prepared
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*_manifest_paths(out_dir).values(), out_dir / REPORT_NAME]:
        stale.unlink(missing_ok=True)

    skips = _Skips()
    rows: list[_Row] = rows_of(skips)
    seen_ids: set[str] = set()
    seen_audio: set[Path] = set()
    checked: list[tuple[_Row, Recording]] = []
    for row in progress(rows, desc=f"checking audio ({metadata.name})", unit="utt", leave=False):
        audio_key = row.audio.resolve()
        if row.id in seen_ids or audio_key in seen_audio:
            skips.add("duplicate", row.where)
            continue
        seen_ids.add(row.id)
        seen_audio.add(audio_key)
        if not row.text:
            skips.add("empty_text", row.where)
            continue
        reason, recording = _check_audio(row.audio, row.id, parameters["min_duration"], parameters["max_duration"])
        if reason:
            skips.add(reason, row.where)
            continue
        checked.append((row, recording))

    cuts = {}
    for (row, recording), g2p in zip(checked, _phonemize(frontend, [row.text for row, _ in checked])):
        if g2p is None:
            skips.add("nothing_to_pronounce", row.where)
            continue
        normalized, tokens = g2p
        supervision = SupervisionSegment(
            id=row.id, recording_id=row.id, start=0.0, duration=recording.duration, channel=0, text=row.text,
            speaker=row.speaker, custom={"normalized": normalized, "phonemes": " ".join(tokens)},
        )
        cuts[row.id] = MonoCut(
            id=row.id, start=0.0, duration=recording.duration, channel=0, recording=recording,
            supervisions=[supervision],
        )

    num_dev, num_test = parameters["num_dev"], parameters["num_test"]
    # training needs one utterance at least; with no dev set, every utterance may go to test (an evaluation set)
    enough = len(cuts) > num_dev + num_test or (num_dev == 0 and 0 < num_test == len(cuts))
    split = _split(list(cuts), num_dev, num_test, parameters["seed"]) if enough else None
    report = {
        "parameters": parameters,
        "frontend": frontend_config,
        "kept": len(cuts),
        "skipped": sum(skips.counts.values()),
        "skipped_by_reason": dict(sorted(skips.counts.items())),
        "skipped_examples": skips.examples,
        "hours": round(sum(c.duration for c in cuts.values()) / 3600, 4),
        "splits": {name: len(ids) for name, ids in split.items()} if split else None,
    }
    if split:
        for name, path in _manifest_paths(out_dir).items():
            CutSet.from_cuts(cuts[i] for i in split[name]).to_file(path)
    (out_dir / REPORT_NAME).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if not split:
        raise DataError(
            f"only {len(cuts)} usable utterances in {metadata} ({skips.summary()}, see {out_dir / REPORT_NAME}); "
            f"need more than num_dev + num_test = {num_dev + num_test}: lower --num-dev/--num-test (or, for an "
            f"evaluation-only set of N utterances, pass --num-dev 0 --num-test N)"
        )
    empty = [name for name in SPLITS if not split[name]]
    note = f"; {' and '.join(empty)} left empty" if empty else ""
    note += ": an evaluation-only set" if "train" in empty else ""
    print(f"prepared {len(cuts)} utterances ({skips.summary()}{note}) -> {out_dir}")
    return {name: CutSet.from_cuts(cuts[i] for i in split[name]) for name in SPLITS}


def _check_common(num_dev: int, num_test: int, min_duration: float, max_duration: float) -> None:
    if num_dev < 0 or num_test < 0:
        raise DataError(f"num_dev ({num_dev}) and num_test ({num_test}) must be >= 0")
    if not 0 <= min_duration < max_duration:
        raise DataError(f"need 0 <= min_duration < max_duration, got {min_duration} and {max_duration}")


def prepare_ljspeech(
    corpus_dir: str | Path,
    out_dir: str | Path,
    frontend: TextFrontend | None = None,
    *,
    num_dev: int = 100,
    num_test: int = 100,
    seed: int = 0,
    min_duration: float = 0.3,
    max_duration: float = 20.0,
    speaker: str = "ljspeech",
    force: bool = False,
) -> dict[str, CutSet]:
    """Prepare an LJSpeech-format folder (``metadata.csv`` rows ``id|text[|normalized]``, audio in
    ``wavs/<id>.wav`` or ``.flac``), one speaker named ``speaker``. Returns ``{"train", "dev", "test"}`` CutSets.
    """
    corpus_dir = Path(corpus_dir)
    metadata = corpus_dir / "metadata.csv"
    if not corpus_dir.is_dir():
        raise DataError(
            f"LJSpeech folder not found: {corpus_dir}; download and unpack it from {LJSPEECH_URL} "
            f"(or point --corpus-dir at your own folder with metadata.csv and wavs/)"
        )
    if not metadata.is_file():
        raise DataError(
            f"no metadata.csv in {corpus_dir}; an LJSpeech-format folder has metadata.csv (rows id|text) and "
            f"wavs/<id>.wav; the original is at {LJSPEECH_URL}"
        )
    _check_common(num_dev, num_test, min_duration, max_duration)
    parameters = {"format": "ljspeech", "num_dev": num_dev, "num_test": num_test, "seed": seed,
                  "min_duration": min_duration, "max_duration": max_duration, "speaker": speaker}
    return _prepare(
        lambda skips: _ljspeech_rows(corpus_dir, metadata, speaker, skips), metadata, out_dir, frontend,
        parameters, force,
    )


def prepare_csv(
    csv_path: str | Path,
    out_dir: str | Path,
    frontend: TextFrontend | None = None,
    *,
    num_dev: int = 100,
    num_test: int = 100,
    seed: int = 0,
    min_duration: float = 0.3,
    max_duration: float = 20.0,
    force: bool = False,
) -> dict[str, CutSet]:
    """Prepare a multi-speaker corpus listed in a CSV of rows ``path|text|speaker`` (paths relative to the CSV's
    folder, or absolute). Returns ``{"train", "dev", "test"}`` CutSets.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataError(
            f"corpus list not found: {csv_path}; give a text file with one 'path|text|speaker' row per utterance"
        )
    _check_common(num_dev, num_test, min_duration, max_duration)
    parameters = {"format": "csv", "num_dev": num_dev, "num_test": num_test, "seed": seed,
                  "min_duration": min_duration, "max_duration": max_duration}
    return _prepare(lambda skips: _csv_rows(csv_path, skips), csv_path, out_dir, frontend, parameters, force)


def prepare_lhotse(
    recordings: str | Path,
    supervisions: str | Path,
    out_dir: str | Path,
    frontend: TextFrontend | None = None,
    *,
    num_dev: int = 100,
    num_test: int = 100,
    seed: int = 0,
    min_duration: float = 0.3,
    max_duration: float = 20.0,
    force: bool = False,
) -> dict[str, CutSet]:
    """Prepare a corpus that a lhotse recipe has listed (its ``*_recordings_*.jsonl.gz`` and
    ``*_supervisions_*.jsonl.gz``, e.g. from ``lhotse.recipes.prepare_librispeech``): each supervision's text and
    speaker with its recording's audio file. Returns ``{"train", "dev", "test"}`` CutSets.
    """
    recordings, supervisions = Path(recordings), Path(supervisions)
    for path in (recordings, supervisions):
        if not path.is_file():
            raise DataError(f"lhotse manifest not found: {path}; run the corpus' lhotse recipe (prepare_*) first")
    _check_common(num_dev, num_test, min_duration, max_duration)
    parameters = {"format": "lhotse", "num_dev": num_dev, "num_test": num_test, "seed": seed,
                  "min_duration": min_duration, "max_duration": max_duration,
                  "recordings": str(recordings.resolve()),
                  "recordings_sha256": hashlib.sha256(recordings.read_bytes()).hexdigest()}
    return _prepare(lambda skips: _lhotse_rows(recordings, supervisions, skips), supervisions, out_dir, frontend,
                    parameters, force)


def load_cuts(data_dir: str | Path, split: str) -> CutSet:
    """Read ``data_dir/cuts_<split>.jsonl.gz`` written by a prepare function."""
    path = _manifest_paths(Path(data_dir)).get(split)
    if path is None:
        raise DataError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    if not path.is_file():
        raise DataError(f"manifest not found: {path}; run `python -m scraps.data.prepare ...` for it first")
    return read_manifest(path)


def read_manifest(path: str | Path) -> CutSet:
    """The CutSet in a manifest file; an empty file (an empty split) gives an empty CutSet."""
    cuts = CutSet.from_file(path)
    return CutSet.from_cuts([]) if cuts is None else cuts  # lhotse reads an empty manifest as None


def frontend_for_data(data_dir: str | Path) -> TextFrontend:
    """The text frontend the manifests in ``data_dir`` were prepared with (from ``prepare_report.json``)."""
    from scraps.text import TextFrontend

    report = Path(data_dir) / REPORT_NAME
    if not report.is_file():
        raise FileNotFoundError(f"{report} not found; prepare the data first (egs/<corpus>/run.sh --stop-stage 1)")
    return TextFrontend.from_config(json.loads(report.read_text())["frontend"])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scraps.data.prepare", description=__doc__.split("\n\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out-dir", required=True, type=Path, help="where the manifests and report go")
    common.add_argument("--num-dev", type=int, default=100, help="utterances held out for validation")
    common.add_argument("--num-test", type=int, default=100, help="utterances held out for testing")
    common.add_argument("--seed", type=int, default=0, help="seed of the train/dev/test split")
    common.add_argument("--min-duration", type=float, default=0.3, help="shorter clips are skipped (seconds)")
    common.add_argument("--max-duration", type=float, default=20.0, help="longer clips are skipped (seconds)")
    common.add_argument("--g2p", default="espeak", help="G2P backend of the text frontend")
    common.add_argument("--force", action="store_true", help="redo even when the manifests are up to date")
    sub = parser.add_subparsers(dest="format", required=True)
    lj = sub.add_parser("ljspeech", parents=[common], help="an LJSpeech-format folder (one speaker)")
    lj.add_argument("--corpus-dir", required=True, type=Path, help="folder with metadata.csv and wavs/")
    lj.add_argument("--speaker", default="ljspeech", help="speaker name stored in the manifests")
    csv = sub.add_parser("csv", parents=[common], help="a 'path|text|speaker' list (many speakers)")
    csv.add_argument("--csv", required=True, type=Path, help="the list; relative paths are from its folder")
    lh = sub.add_parser("lhotse", parents=[common], help="a corpus a lhotse recipe listed (recordings + supervisions)")
    lh.add_argument("--recordings", required=True, type=Path, help="its RecordingSet (.jsonl.gz)")
    lh.add_argument("--supervisions", required=True, type=Path, help="its SupervisionSet (.jsonl.gz)")
    demo = sub.add_parser("demo", parents=[common], help="synthesise the espeak-ng demo corpus, then prepare it")
    demo.add_argument("--corpus-dir", type=Path, help="where the demo audio goes (default: OUT_DIR/corpus)")
    demo.add_argument("--num-speakers", type=int, default=8)
    demo.add_argument("--utts-per-speaker", type=int, default=150)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; a user error prints one line and returns 2."""
    from scraps.audio import AudioError
    from scraps.text import TextError, TextFrontend

    args = _parser().parse_args(argv)
    common = dict(num_dev=args.num_dev, num_test=args.num_test, seed=args.seed, min_duration=args.min_duration,
                  max_duration=args.max_duration, force=args.force)
    try:
        frontend = TextFrontend(g2p=args.g2p)
    except ValueError as exc:  # an unknown G2P backend name
        print(f"error: --g2p {args.g2p}: {exc}", file=sys.stderr)
        return 2
    try:
        if args.format == "ljspeech":
            prepare_ljspeech(args.corpus_dir, args.out_dir, frontend, speaker=args.speaker, **common)
        elif args.format == "csv":
            prepare_csv(args.csv, args.out_dir, frontend, **common)
        elif args.format == "lhotse":
            prepare_lhotse(args.recordings, args.supervisions, args.out_dir, frontend, **common)
        else:
            from scraps.data.demo import write_demo_corpus

            corpus = write_demo_corpus(
                args.corpus_dir or args.out_dir / "corpus", num_speakers=args.num_speakers,
                utts_per_speaker=args.utts_per_speaker, seed=args.seed,
            )
            prepare_csv(Path(corpus) / "metadata.csv", args.out_dir, frontend, **common)
    except (DataError, TextError, AudioError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
