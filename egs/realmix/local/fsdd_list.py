"""Write the Free Spoken Digit Dataset as a 'path|text|speaker' list for ``python -m scraps.data.prepare csv``.

FSDD names every clip ``recordings/<digit>_<speaker>_<index>.wav``; the transcript is the digit as an English
word ("7" -> "seven"), so nothing but the file names is read. A file whose name does not follow that pattern is
counted and left out of the list (the preparation then checks each listed clip's audio itself).

    python local/fsdd_list.py --fsdd-dir ../../../shared/data/fsdd --out data/fsdd/list.csv
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_NAME = re.compile(r"^([0-9])_([A-Za-z0-9]+)_([0-9]+)$")


def fsdd_rows(fsdd_dir: Path) -> tuple[list[str], list[str]]:
    """(rows 'absolute path|digit word|speaker' sorted by path, names of the .wav files left out)."""
    rows, odd = [], []
    for wav in sorted((fsdd_dir / "recordings").glob("*.wav")):
        match = _NAME.match(wav.stem)
        if match is None:
            odd.append(wav.name)
            continue
        digit, speaker, _ = match.groups()
        rows.append(f"{wav.resolve()}|{DIGIT_WORDS[int(digit)]}|{speaker}")
    return rows, odd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fsdd-dir", required=True, type=Path, help="FSDD folder holding recordings/")
    parser.add_argument("--out", required=True, type=Path, help="the list to write")
    args = parser.parse_args(argv)
    if not (args.fsdd_dir / "recordings").is_dir():
        print(f"fsdd_list: no recordings/ folder in {args.fsdd_dir}; point --fsdd-dir at the FSDD checkout",
              file=sys.stderr)
        return 2
    rows, odd = fsdd_rows(args.fsdd_dir)
    if not rows:
        print(f"fsdd_list: no <digit>_<speaker>_<index>.wav file in {args.fsdd_dir / 'recordings'}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("path|text|speaker\n" + "\n".join(rows) + "\n", encoding="utf-8")
    note = f"; left out {len(odd)} files not named <digit>_<speaker>_<index>.wav (e.g. {odd[0]})" if odd else ""
    print(f"fsdd_list: {len(rows)} clips -> {args.out}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
