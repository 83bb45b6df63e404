"""Compare a TTS run from scratch with the same run initialised from SCRAPS.

    python recipes/compare_convergence.py --scratch exp/tts_scratch --scraps exp/tts_scraps --out exp/compare

Writes convergence.png, comparison.json and comparison.md into --out and prints the table.
"""
import argparse
import sys

from tts.compare import ComparisonError, markdown_table, write_comparison


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--scratch", required=True, help="run directory of the TTS trained from scratch")
    p.add_argument("--scraps", required=True, help="run directory of the TTS initialised from SCRAPS")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--focus-threshold", type=float, default=0.5, help="focus rate counted as diagonal attention")
    args = p.parse_args(argv)
    try:
        result = write_comparison(args.scratch, args.scraps, args.out, args.focus_threshold)
    except ComparisonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown_table(result))
    print(f"wrote {args.out}/comparison.json, comparison.md, convergence.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
