"""LibriSpeech and LibriTTS -> the project's manifests, through lhotse's own recipes.

Three steps, each skipped when its output is up to date:

1. ``lhotse.recipes.prepare_librispeech`` / ``prepare_libritts`` list each part's recordings and supervisions
   (``OUT_DIR/lhotse/<corpus>_{recordings,supervisions}_<part>.jsonl.gz``);
2. :func:`scraps.data.prepare.prepare_lhotse` checks every clip, runs the G2P once and stores the phonemes in the
   supervisions, one folder per part (``OUT_DIR/parts/<part>``, every clip in its ``train`` manifest);
3. :func:`scraps.data.mix.mix_corpora` gathers the parts into ``OUT_DIR/cuts_{train,dev,test}.jsonl.gz`` +
   ``prepare_report.json``: the training parts into train, the corpus' own dev and test parts into dev and test
   (ids and speakers prefixed with the corpus name).

Command line (the corpus must already be on disk; ``egs/librispeech/run.sh --stage 0`` downloads it)::

    python -m scraps.data.libri librispeech --corpus-dir DL/LibriSpeech --out-dir data/manifests \\
        --train-parts train-clean-100 train-clean-360 --dev-parts dev-clean --test-parts test-clean
    python -m scraps.data.libri libritts --corpus-dir DL/LibriTTS --out-dir data/manifests ...
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lhotse import CutSet

from scraps.data.mix import MixPart, mix_corpora
from scraps.data.prepare import DataError, prepare_lhotse

if TYPE_CHECKING:
    from scraps.text import TextFrontend

CORPORA = {
    # name: (lhotse's prefix of its manifests, where to get it)
    "librispeech": ("librispeech", "https://www.openslr.org/12"),
    "libritts": ("libritts", "https://www.openslr.org/60"),
}


def _lhotse_prepare(corpus: str, corpus_dir: Path, parts: list[str], out_dir: Path, num_jobs: int) -> None:
    from lhotse.recipes import prepare_librispeech, prepare_libritts

    if corpus == "librispeech":  # upper-case transcripts: espeak-ng would spell short words ("US") letter by letter
        prepare_librispeech(corpus_dir, dataset_parts=parts, output_dir=out_dir, normalize_text="lower",
                            num_jobs=num_jobs)
    else:  # LibriTTS ships normalised, cased text with punctuation: used as it is
        prepare_libritts(corpus_dir, dataset_parts=parts, output_dir=out_dir, num_jobs=num_jobs)


def prepare_libri(
    corpus: str,
    corpus_dir: str | Path,
    out_dir: str | Path,
    train_parts: list[str],
    dev_parts: list[str],
    test_parts: list[str],
    frontend: TextFrontend | None = None,
    *,
    min_duration: float = 0.3,
    max_duration: float = 20.0,
    num_jobs: int = 1,
    force: bool = False,
) -> dict[str, CutSet]:
    """Prepare ``corpus`` ("librispeech" or "libritts") from ``corpus_dir`` into ``out_dir``; returns the mixed
    ``{"train", "dev", "test"}`` CutSets. Part names are the corpus' folder names (``train-clean-100``, ...)."""
    if corpus not in CORPORA:
        raise DataError(f"unknown corpus {corpus!r}; choose one of {', '.join(CORPORA)}")
    prefix, url = CORPORA[corpus]
    corpus_dir, out_dir = Path(corpus_dir), Path(out_dir)
    parts = list(dict.fromkeys([*train_parts, *dev_parts, *test_parts]))
    if not train_parts or not dev_parts or not test_parts:
        raise DataError("give at least one part each for train, dev and test (e.g. train-clean-100, dev-clean, "
                        "test-clean)")
    missing = [p for p in parts if not (corpus_dir / p).is_dir()]
    if missing:
        raise DataError(
            f"{corpus} part(s) {', '.join(missing)} not found in {corpus_dir}; download them (run.sh --stage 0, or "
            f"{url}) and pass --corpus-dir the folder that holds them"
        )
    from scraps.text import TextFrontend

    frontend = frontend or TextFrontend()
    listed = out_dir / "lhotse"
    _lhotse_prepare(corpus, corpus_dir, parts, listed, num_jobs)
    mix = []
    for part in parts:
        prepare_lhotse(
            listed / f"{prefix}_recordings_{part}.jsonl.gz", listed / f"{prefix}_supervisions_{part}.jsonl.gz",
            out_dir / "parts" / part, frontend, num_dev=0, num_test=0, min_duration=min_duration,
            max_duration=max_duration, force=force,
        )
        splits = {s: "train" for s, chosen in (("train", train_parts), ("dev", dev_parts), ("test", test_parts))
                  if part in chosen}
        mix.append(MixPart(corpus, out_dir / "parts" / part, splits))
    return mix_corpora(mix, out_dir, force=force)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; a user error prints one line and returns 2."""
    from scraps.text import TextError, TextFrontend

    parser = argparse.ArgumentParser(prog="python -m scraps.data.libri", description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", choices=sorted(CORPORA))
    parser.add_argument("--corpus-dir", required=True, type=Path, help="the LibriSpeech/ or LibriTTS/ folder")
    parser.add_argument("--out-dir", required=True, type=Path, help="where the manifests and report go")
    parser.add_argument("--train-parts", nargs="+", default=["train-clean-100"])
    parser.add_argument("--dev-parts", nargs="+", default=["dev-clean"])
    parser.add_argument("--test-parts", nargs="+", default=["test-clean"])
    parser.add_argument("--min-duration", type=float, default=0.3, help="shorter clips are skipped (seconds)")
    parser.add_argument("--max-duration", type=float, default=20.0, help="longer clips are skipped (seconds)")
    parser.add_argument("--g2p", default="espeak", help="G2P backend of the text frontend")
    parser.add_argument("--num-jobs", type=int, default=1, help="threads lhotse reads the audio headers with")
    parser.add_argument("--force", action="store_true", help="redo even when the manifests are up to date")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        frontend = TextFrontend(g2p=args.g2p)
        prepare_libri(args.corpus, args.corpus_dir, args.out_dir, args.train_parts, args.dev_parts, args.test_parts,
                      frontend, min_duration=args.min_duration, max_duration=args.max_duration,
                      num_jobs=args.num_jobs, force=args.force)
    except (DataError, TextError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
