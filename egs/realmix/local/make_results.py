"""Assemble egs/realmix/RESULTS.md from the runs' outputs (every figure comes from a file a stage wrote).

    python local/make_results.py [--fractions 25 50 100] [--variants r100_noaug r25_noaug r100_b96]

Reads, for each share of the real training data that has been run, and for each variant (a run of
`run.sh --tag`): data/mix_r<pct>/prepare_report.json,
exp/scraps_<run>/{config.yaml, validation.jsonl, eval/report.json, intelligibility/intelligibility.json}, and
exp/timings.tsv. A variant's label is its share and the training settings where its config.yaml differs from the
plain run of that share.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from scraps.training.config import ABSENT, config_diff

GOALS = {"r1": 0.90, "fell": 0.91, "snr10": -0.10, "rho": -0.6}
# Settings that do not change the trained model: left out of a variant's label.
NOT_TRAINING = {"exp_dir", "train.val_every", "train.ckpt_every", "train.log_every"}


def head_commit() -> str:
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return git.stdout.strip() or "unknown"


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


@dataclass
class Run:
    name: str     # exp/scraps_<name>
    pct: str      # share of the real training data (%)
    label: str    # how the tables name it
    overrides: str = ""  # key=value settings that differ from the plain run of the share (variants only)

    @property
    def exp(self) -> Path:
        return Path(f"exp/scraps_{self.name}")


def variant(name: str) -> Run:
    """A `run.sh --tag` run, exp/scraps_r<pct>_<tag>, labelled by the settings it changed.

    Keys the plain run's config.yaml lacks (settings added to the code after it was trained, at their defaults)
    are not counted as changes."""
    match = re.fullmatch(r"r(\d+)_(\w+)", name)
    if not match:
        raise SystemExit(f"make_results.py: variant {name!r} is not r<pct>_<tag>; name it as exp/scraps_<variant>")
    pct = match.group(1)
    mine, base = (Path(f"exp/scraps_{n}/config.yaml") for n in (name, f"r{pct}"))
    diffs: dict[str, object] = {}
    if mine.is_file() and base.is_file():
        changes = config_diff(yaml.safe_load(base.read_text()), yaml.safe_load(mine.read_text()))
        diffs = {k: str(b).lower() if isinstance(b, bool) else b
                 for k, (a, b) in changes.items() if k != "exp_dir" and a is not ABSENT and b is not ABSENT}
    overrides = " ".join(f"{k}={v}" for k, v in diffs.items())
    changed = " ".join(f"{k}={v}" for k, v in diffs.items() if k not in NOT_TRAINING)
    return Run(name, pct, f"{pct} %, {changed or match.group(2)}", overrides)


def condition_table(runs: list[Run], reports: dict[str, dict]) -> list[str]:
    """Mean score per condition (and its change from clean) for every run side by side, with the correlations."""
    done = [r for r in runs if r.name in reports]
    if not done:
        return []
    first = reports[done[0].name]
    out = ["## How the score responds, by run", "",
           "Mean SCRAPS score per condition over the 64 held-out clips (mean relative change from the clean pair in "
           "brackets), mean pocketsphinx WER (the same transcripts for every run), and Spearman(score, WER).", "",
           "| condition | WER | " + " | ".join(r.label for r in done) + " |",
           "|---|---|" + "---|" * len(done)]
    for cond, row in first["conditions"].items():
        cells = []
        for r in done:
            c = reports[r.name]["conditions"][cond]
            cells.append(f"{c['mean_score']:.3f} ({c['mean_relative_change']:+.0%})")
        out.append(f"| {cond} | {row['mean_wer']:.2f} | " + " | ".join(cells) + " |")
    spearman = [("**Spearman, all pairs**", lambda it: f"**{it['spearman_score_wer']:.3f}**"),
                ("Spearman, audio only", lambda it: f"{it['spearman_audio_only']:.3f}")]
    spearman += [(f"Spearman, {kind}", lambda it, kind=kind: f"{it['spearman_by_kind'][kind]:.3f}")
                 for kind in first["spearman_by_kind"]]
    for name, cell in spearman:
        out.append(f"| {name} | | " + " | ".join(cell(reports[r.name]) for r in done) + " |")
    return out + [""]


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
    p.add_argument("--variants", nargs="*", default=["r100_noaug", "r25_noaug", "r100_b96"],
                   help="runs of run.sh --tag to report beside them, as r<pct>_<tag>")
    p.add_argument("--out", default="RESULTS.md")
    args = p.parse_args()
    candidates = [Run(f"r{pct}", pct, f"{pct} %") for pct in args.fractions] + [variant(v) for v in args.variants]
    runs = [r for r in candidates if (r.exp / "validation.jsonl").is_file()]
    commands = []
    for r in runs:
        if r.overrides:
            commands.append(f"    nice -n 10 ./run.sh --stage 3 --stop-stage 5 --fractions {r.pct} "
                            f"--tag {r.name.split('_', 1)[1]} --overrides \"{r.overrides}\"   # a variant")
        else:
            commands.append(f"    nice -n 10 ./run.sh --stage 2 --stop-stage 5 --fractions {r.pct}"
                            "   # mix, train, evaluate, ASR check")
    lines = [
        "# Real-speech SCRAPS: results",
        "",
        f"Written by `python local/make_results.py` (`./run.sh --stage 6`) at commit `{head_commit()}` from the files",
        "the stages wrote. Commands, from `egs/realmix` with the venv active (each stage skips work already done):",
        "",
        "    nice -n 10 ./run.sh --stage 0 --stop-stage 1            # corpora and manifests",
        *commands,
        "    python local/make_results.py",
        "",
        "Test set: the 64 held-out LJSpeech clips (`data/ljspeech/cuts_test.jsonl.gz`, split by seed 0, the same for",
        "every share of real data; no run trains on them). What the misses mean: `README.md` here and",
        "`docs/experiments.md`.",
        "",
    ]
    if not runs:
        lines.append("No run has finished yet.")
    reports = {r.name: it for r in runs
               if (it := read_json(r.exp / "intelligibility" / "intelligibility.json")) is not None}
    if runs:
        lines += ["## Goals on the held-out LJSpeech clips", "",
                  "| real training data | 32-way R@1 p->a | 32-way R@1 a->p | score fell at 20 % phone substitution "
                  "| mean score change at 10 dB SNR | Spearman(score, WER) |",
                  "|---|---|---|---|---|---|",
                  f"| goal | >= {GOALS['r1']} | >= {GOALS['r1']} | >= {GOALS['fell']:.0%} | >= {GOALS['snr10']:.0%} "
                  f"| <= {GOALS['rho']} |"]
        for r in runs:
            ev = read_json(r.exp / "eval" / "report.json")
            it = reports.get(r.name)
            cells = ["not run"] * 4
            if ev:
                ret, fell = ev["retrieval_32way"], ev["sensitivity"]["0.2"]["fell"]
                snr = ev["robustness"]["snr_10"]["mean_relative_change"]
                cells = [f"{ret['p2a']['r1']:.3f} ({mark(ret['p2a']['r1'] >= GOALS['r1'])})",
                         f"{ret['a2p']['r1']:.3f} ({mark(ret['a2p']['r1'] >= GOALS['r1'])})",
                         f"{fell:.1%} ({mark(fell >= GOALS['fell'])})",
                         f"{snr:+.1%} ({mark(snr >= GOALS['snr10'])})"]
            rho = it["spearman_score_wer"] if it else None
            cells.append("not run" if not it else f"{rho:.3f} ({mark(rho is not None and rho <= GOALS['rho'])})")
            lines.append(f"| {r.label} | " + " | ".join(cells) + " |")
        lines += ["", "Retrieval, substitution and noise: `scraps evaluate --model exp/scraps_<run>/export --cuts "
                  "data/ljspeech/cuts_test.jsonl.gz --out exp/scraps_<run>/eval --seed 0` (stage 4); the correlation: "
                  "`scraps intelligibility ... --asr pocketsphinx --seed 0` (stage 5).", ""]

        lines += ["## Data and training", "",
                  "| real training data | train utterances: LJSpeech / FSDD / espeak-ng | steps | final dev loss "
                  "| dev R@1 p->a / a->p (64: 32 LJSpeech + 32 espeak-ng) |", "|---|---|---|---|---|"]
        for r in runs:
            mix = read_json(Path(f"data/mix_r{r.pct}/prepare_report.json"))
            counts = " / ".join(str(mix["corpora"][c].get("train", 0)) for c in ("ljspeech", "fsdd", "espeak")) \
                if mix else "?"
            v = json.loads((r.exp / "validation.jsonl").read_text().splitlines()[-1])
            lines.append(f"| {r.label} | {counts} | {v['step']} | {v['loss']:.3f} | {v['r1_p2a']:.3f} / "
                         f"{v['r1_a2p']:.3f} |")
        lines.append("")
        lines += condition_table(runs, reports)

        for r in runs:
            md = r.exp / "intelligibility" / "intelligibility.md"
            if md.is_file():
                body = md.read_text().strip().split("\n", 1)[1].strip()  # without its own title
                lines += [f"## SCRAPS score against pocketsphinx WER, {r.label}", "", body, "",
                          f"![score against WER](results/score_vs_wer_{r.name}.png)", ""]
            report = r.exp / "eval" / "report.md"
            if report.is_file():
                body = report.read_text().strip().split("\n", 1)[1].strip()
                lines += [f"## `scraps evaluate` on the held-out clips, {r.label}", "", body, ""]
    lines += timings(Path("exp/timings.tsv"))

    Path("results").mkdir(exist_ok=True)
    for r in runs:
        for src, name in ((r.exp / "intelligibility" / "score_vs_wer.png", f"score_vs_wer_{r.name}.png"),
                          (r.exp / "eval" / "corruption.png", f"corruption_{r.name}.png")):
            if src.is_file():
                shutil.copyfile(src, Path("results") / name)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
