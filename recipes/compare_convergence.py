"""Compare TTS runs from scratch with the same runs initialised from SCRAPS (any number of seeds per arm).

    python recipes/compare_convergence.py --scratch exp/tts_scratch --scraps exp/tts_scraps --out exp/compare
    python recipes/compare_convergence.py --scratch exp/s0 exp/s1 exp/s2 --scraps exp/p0 exp/p1 exp/p2 --out exp/cmp

Writes comparison.json, comparison.md and convergence.png into --out and prints the table.
"""
import argparse
import sys

from tts.convergence import ComparisonError, markdown, write_comparison


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scratch", required=True, nargs="+", help="run directories of the TTS trained from scratch")
    p.add_argument("--scraps", required=True, nargs="+", help="run directories of the TTS initialised from SCRAPS")
    p.add_argument("--out", required=True, help="output directory")
    args = p.parse_args(argv)
    try:
        result = write_comparison({"scratch": args.scratch, "scraps": args.scraps}, args.out)
    except ComparisonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown(result))
    print(f"wrote {args.out}/comparison.json, comparison.md, convergence.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
