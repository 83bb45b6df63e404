"""Assemble egs/realmix/RESULTS.md from the runs' outputs (every figure comes from a file a stage wrote).

    python local/make_results.py [--fractions 25 50 100]

Reads, for each share of the real training data that has been run: data/mix_r<pct>/prepare_report.json,
exp/scraps_r<pct>/{validation.jsonl, eval/report.json, intelligibility/intelligibility.json}, and exp/timings.tsv.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

GOALS = {"r1": 0.90, "fell": 0.91, "snr10": -0.10, "rho": -0.6}


def head_commit() -> str:
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return git.stdout.strip() or "unknown"


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def timings(path: Path) -> list[str]:
    """The wall time (and, where recorded, CPU time) of each stage run, the last run of each (stage, shares) only."""
    if not path.is_file():
        return []
    rows: dict[tuple[str, str], list[str]] = {}
    for line in path.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) >= 3:
            rows[(fields[0], fields[1])] = fields[2:]
    out = ["## Wall time per stage (`exp/timings.tsv`)", "",
           "CPU seconds where run.sh recorded them: the stage's own processes, and every other process of the machine",
           "meanwhile (other jobs shared these 2 cores during some stages).", "",
           "| stage | real data (%) | wall s | own CPU s | others' CPU s |", "|---|---|---|---|---|"]
    for (stage, shares), values in sorted(rows.items(), key=lambda kv: (int(kv[0][0].split()[0]), kv[0][1])):
        wall = float(values[0])
        own, other = ("", "")
        if len(values) >= 3:
            own, other = values[1], str(int(values[2]) - int(values[1]))
        out.append(f"| {stage} | {shares} | {wall:.0f} ({wall / 60:.1f} min) | {own} | {other} |")
    return out + [""]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fractions", nargs="+", default=["25", "50", "100"], help="shares of real data to report (%%)")
    p.add_argument("--out", default="RESULTS.md")
    args = p.parse_args()
    runs = [pct for pct in args.fractions if Path(f"exp/scraps_r{pct}/validation.jsonl").is_file()]
    lines = [
        "# Real-speech SCRAPS: results",
        "",
        f"Written by `python local/make_results.py` (`./run.sh --stage 6`) at commit `{head_commit()}` from the files",
        "the stages wrote. Commands, from `egs/realmix` with the venv active (each stage skips work already done):",
        "",
        "    nice -n 10 ./run.sh --stage 0 --stop-stage 1            # corpora and manifests",
        *[f"    nice -n 10 ./run.sh --stage 2 --stop-stage 5 --fractions {pct}   # mix, train, evaluate, ASR check"
          for pct in runs],
        "    python local/make_results.py",
        "",
        "Test set: the 64 held-out LJSpeech clips (`data/ljspeech/cuts_test.jsonl.gz`, split by seed 0, the same for",
        "every share of real data; no run trains on them). What the misses mean: `README.md` here and",
        "`docs/experiments.md`.",
        "",
    ]
    if not runs:
        lines.append("No run has finished yet.")
    else:
        lines += ["## Goals on the held-out LJSpeech clips", "",
                  "| real training data | 32-way R@1 p->a | 32-way R@1 a->p | score fell at 20 % phone substitution "
                  "| mean score change at 10 dB SNR | Spearman(score, WER) |",
                  "|---|---|---|---|---|---|",
                  f"| goal | >= {GOALS['r1']} | >= {GOALS['r1']} | >= {GOALS['fell']:.0%} | >= {GOALS['snr10']:.0%} "
                  f"| <= {GOALS['rho']} |"]
        for pct in runs:
            ev = read_json(Path(f"exp/scraps_r{pct}/eval/report.json"))
            it = read_json(Path(f"exp/scraps_r{pct}/intelligibility/intelligibility.json"))
            cells = ["not run"] * 4
            if ev:
                r, fell = ev["retrieval_32way"], ev["sensitivity"]["0.2"]["fell"]
                snr = ev["robustness"]["snr_10"]["mean_relative_change"]
                cells = [f"{r['p2a']['r1']:.3f} ({mark(r['p2a']['r1'] >= GOALS['r1'])})",
                         f"{r['a2p']['r1']:.3f} ({mark(r['a2p']['r1'] >= GOALS['r1'])})",
                         f"{fell:.1%} ({mark(fell >= GOALS['fell'])})",
                         f"{snr:+.1%} ({mark(snr >= GOALS['snr10'])})"]
            rho = it["spearman_score_wer"] if it else None
            cells.append("not run" if not it else f"{rho:.3f} ({mark(rho is not None and rho <= GOALS['rho'])})")
            lines.append(f"| {pct} % | " + " | ".join(cells) + " |")
        lines += ["", "Retrieval, substitution and noise: `scraps evaluate --model exp/scraps_r<pct>/export --cuts "
                  "data/ljspeech/cuts_test.jsonl.gz --out exp/scraps_r<pct>/eval --seed 0` (stage 4); the correlation: "
                  "`scraps intelligibility ... --asr pocketsphinx --seed 0` (stage 5).", ""]

        lines += ["## Data and training", "",
                  "| real training data | train utterances: LJSpeech / FSDD / espeak-ng | steps | final dev loss "
                  "| dev R@1 p->a / a->p (64: 32 LJSpeech + 32 espeak-ng) |", "|---|---|---|---|---|"]
        for pct in runs:
            mix = read_json(Path(f"data/mix_r{pct}/prepare_report.json"))
            counts = " / ".join(str(mix["corpora"][c].get("train", 0)) for c in ("ljspeech", "fsdd", "espeak")) \
                if mix else "?"
            rows = Path(f"exp/scraps_r{pct}/validation.jsonl").read_text().splitlines()
            v = json.loads(rows[-1])
            lines.append(f"| {pct} % | {counts} | {v['step']} | {v['loss']:.3f} | {v['r1_p2a']:.3f} / "
                         f"{v['r1_a2p']:.3f} |")
        lines.append("")

        for pct in runs:
            md = Path(f"exp/scraps_r{pct}/intelligibility/intelligibility.md")
            if md.is_file():
                body = md.read_text().strip().split("\n", 1)[1].strip()  # without its own title
                lines += [f"## SCRAPS score against pocketsphinx WER, {pct} % of the real data", "", body, "",
                          f"![score against WER](results/score_vs_wer_r{pct}.png)", ""]
            report = Path(f"exp/scraps_r{pct}/eval/report.md")
            if report.is_file():
                body = report.read_text().strip().split("\n", 1)[1].strip()
                lines += [f"## `scraps evaluate` on the held-out clips, {pct} % of the real data", "", body, ""]
    lines += timings(Path("exp/timings.tsv"))

    Path("results").mkdir(exist_ok=True)
    for pct in runs:
        for src, name in ((f"exp/scraps_r{pct}/intelligibility/score_vs_wer.png", f"score_vs_wer_r{pct}.png"),
                          (f"exp/scraps_r{pct}/eval/corruption.png", f"corruption_r{pct}.png")):
            if Path(src).is_file():
                shutil.copyfile(src, Path("results") / name)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
