"""Assemble egs/demo/CONVERGENCE.md from the comparisons ./convergence.sh wrote (one per setting).

    python local/convergence_report.py [--root exp/convergence] [--settings small full unseen]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

PROBES = {
    "frozen": "SCRAPS encoder copied and never trained (`--freeze-encoder-steps` = all steps)",
    "slowenc": "SCRAPS encoder copied and trained at a tenth of the learning rate (`--encoder-lr-scale 0.1`)",
}
SETTINGS = {
    "small": "the 3 demo TTS voices, 80 training sentences each",
    "full": "the 3 demo TTS voices, all their training sentences",
    "unseen": "3 voices SCRAPS never heard (with sentences it never heard), all their training sentences",
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="exp/convergence")
    p.add_argument("--settings", nargs="+", default=list(SETTINGS))
    p.add_argument("--out", default="CONVERGENCE.md")
    args = p.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# Does SCRAPS pretraining speed up TTS convergence?",
        "",
        f"Written by `./convergence.sh` (`local/convergence_report.py`) at commit `{commit or 'unknown'}`. Every run",
        "is the demo TTS (`conf/tts.yaml`) with the setting's data, trained from scratch or with its phonetic encoder",
        "copied from the demo's SCRAPS export (`exp/scraps/export`, pretrained on the 8 demo voices), one seed per",
        "run, validated every 100 steps: the first dev utterances are synthesised free running and judged by that",
        "SCRAPS export (score, and recall@1 of the own sentence among 32). Speedup = mean steps from scratch / mean",
        "steps from SCRAPS to reach a threshold and hold it at every later validation; 'ranges apart' = every",
        "SCRAPS-initialised seed got there before every scratch seed.",
        "",
    ]
    Path("results").mkdir(exist_ok=True)
    for setting in args.settings:
        cmp_dir = Path(args.root) / setting / "compare"
        if not (cmp_dir / "comparison.json").is_file():
            lines += [f"## {setting}: not run", ""]
            continue
        result = json.loads((cmp_dir / "comparison.json").read_text())
        lines += [f"## {setting}: {SETTINGS.get(setting, setting)}", "", (cmp_dir / "comparison.md").read_text().strip(),
                  "", "Final validation of each run (step, loss, focus, SCRAPS score, recall@1, MCD-DTW):", ""]
        for arm in ("scratch", "scraps"):
            for run, final in zip(result["arms"][arm], result["final"][arm]):
                shown = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in final.items()
                                  if v is not None)
                lines.append(f"- `{Path(run).name}`: {shown}")
        shutil.copyfile(cmp_dir / "convergence.png", Path("results") / f"convergence_{setting}.png")
        lines += ["", f"![{setting}](results/convergence_{setting}.png)", ""]
        for probe, what in PROBES.items():
            probe_dir = Path(args.root) / setting / f"compare_{probe}"
            if not (probe_dir / "comparison.json").is_file():
                continue
            seeds = " ".join(Path(r).name.rsplit("_s", 1)[1]
                             for r in json.loads((probe_dir / "comparison.json").read_text())["arms"]["scraps"])
            lines += [f"### Probe `{probe}` ({setting}): {what}", "",
                      f"`./convergence.sh --settings {setting} --seeds \"{seeds}\" --probes {probe}`; the 'SCRAPS init' "
                      "columns are the probe's runs, the scratch runs are the setting's own.", "",
                      (probe_dir / "comparison.md").read_text().strip(), ""]
            shutil.copyfile(probe_dir / "convergence.png", Path("results") / f"convergence_{setting}_{probe}.png")
            lines += [f"![{setting}, {probe}](results/convergence_{setting}_{probe}.png)", ""]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
