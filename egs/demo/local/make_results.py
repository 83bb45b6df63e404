"""Assemble egs/demo/RESULTS.md from a finished demo run (every figure comes from files the stages wrote).

    python local/make_results.py [--timings exp/timings.tsv]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path


def head_commit() -> str:
    """Short hash of the checked-out commit ("unknown" outside a git checkout)."""
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return git.stdout.strip() or "unknown"


def last_validation(run: Path) -> dict:
    rows = [json.loads(x) for x in (run / "validation.jsonl").read_text().splitlines() if x.strip()]
    return rows[-1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--timings", default="exp/timings.tsv", help="stage<TAB>seconds lines written by run.sh")
    p.add_argument("--out", default="RESULTS.md")
    p.add_argument("--commit", help="commit the runs were made at (default: the current one)")
    args = p.parse_args()
    commit = args.commit or head_commit()
    lines = [
        "# Demo results",
        "",
        f"Produced by `./run.sh` (what `make demo` runs) at commit `{commit}`; this file is written by its last stage",
        "(`python local/make_results.py`). Same seeds, same numbers on a rerun; wall times depend on the machine.",
        "What each figure means against its goal, and the trials that led to these settings: docs/experiments.md.",
        "",
    ]
    timings = Path(args.timings)
    if timings.is_file():  # a rerun appends: the last line of each stage counts
        rows = dict(line.split("\t") for line in timings.read_text().splitlines() if line.strip())
        rows = sorted(rows.items(), key=lambda kv: int(kv[0].split()[0]))
        total = sum(float(sec) for _, sec in rows)
        lines += ["## Wall time per stage", "", "| stage | seconds |", "|---|---|"]
        lines += [f"| {name} | {float(sec):.0f} |" for name, sec in rows]
        lines += [f"| **total** | **{total:.0f}** ({total / 60:.1f} min) |", ""]
    scraps = Path("exp/scraps")
    if (scraps / "validation.jsonl").is_file():
        v = last_validation(scraps)
        lines += [
            "## SCRAPS pretraining (stage 2, `conf/scraps.yaml`)",
            "",
            f"Dev set ({v.get('n', 64)} utterances), after {v['step']} steps: recall@1 phonemes->audio "
            f"**{v['r1_p2a']:.3f}**, audio->phonemes **{v['r1_a2p']:.3f}** (goal >= 0.95), recall@5 p->a "
            f"{v['r5_p2a']:.3f}, mean cosine of matching pairs {v['pos_cos']:.3f} vs others {v['neg_cos']:.3f}.",
            "Curve: `exp/scraps/validation.jsonl`; TensorBoard: `exp/scraps/tb`.",
            "",
        ]
    report = scraps / "eval" / "report.md"
    if report.is_file():
        lines += ["## SCRAPS evaluation on the test cuts (stage 3, `scraps evaluate`)", "",
                  report.read_text().strip(), "",
                  "Paper (arXiv 2307.12445): the score falls for 91 % of utterances at 20 % substitution and drops",
                  "by about 10 % at 75 % noise. The paper's exact noise mixing is unknown; ours (defined in the",
                  "report) may be harsher.", "", "![score against corruption](results/corruption.png)", ""]
    ablation = Path("exp/ablation/ablation.md")
    if ablation.is_file():  # written by ./ablation.sh (not part of run.sh: it trains six more models)
        lines += ["## SCRAPS ablation: integrator and augmentation (`./ablation.sh`)", "",
                  ablation.read_text().strip(), ""]
    cmp_md = Path("exp/compare/comparison.md")
    if cmp_md.is_file():
        lines += ["## TTS: scratch vs SCRAPS-initialised encoder (stages 4-5)", "",
                  "Same data, seed, steps and settings (`conf/tts.yaml`); only the phonetic encoder's initialisation",
                  "differs (`--init-from-scraps exp/scraps/export`). Every validation synthesises the first dev",
                  "utterances free-running and scores them with the SCRAPS export (`exp/tts_*/validation.jsonl`;",
                  "plots of the alignment, the target, the teacher-forced and the free-running mel:",
                  "`exp/tts_*/plots/`).",
                  "", cmp_md.read_text().strip(), "", "![convergence](results/convergence.png)", ""]
    definitions = ""
    for run in ("tts_scratch", "tts_scraps"):
        report = Path("exp") / run / "eval" / "report.md"
        if report.is_file():
            body = report.read_text().strip().split("\n", 1)[1].strip()  # without its title
            body, _, definitions = body.partition("\nDefinitions:")
            lines += [f"## TTS `{run}` on the test sentences of its voices (stage 5, `tts-evaluate`)", "",
                      f"`tts-evaluate --model exp/{run}/export --cuts data/manifests/cuts_test.jsonl.gz --out "
                      f"exp/{run}/eval --only-model-speakers --scraps exp/scraps/export --vocoder auto --seed 0`", "",
                      body.strip(), ""]
    if definitions:
        lines += ["What the TTS figures mean:", definitions.rstrip(), ""]
    Path("results").mkdir(exist_ok=True)
    for src in (Path("exp/compare/convergence.png"), scraps / "eval" / "corruption.png"):
        if src.is_file():
            shutil.copyfile(src, Path("results") / src.name)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
