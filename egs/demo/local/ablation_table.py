"""Collect the six ablation runs of ablation.sh into one markdown table (exp/ablation/ablation.md).

    python local/ablation_table.py --steps 300
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from make_results import head_commit  # local/ is this script's directory

INTEGRATORS = {"shared": "one LSTM, shared", "separate": "two LSTMs", "none": "none (masked mean)"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="exp/ablation")
    p.add_argument("--steps", type=int, required=True, help="training steps per run (as given to ablation.sh)")
    p.add_argument("--out", default="exp/ablation/ablation.md")
    p.add_argument("--commit", help="commit the runs were made at (default: the current one)")
    args = p.parse_args()
    commit = args.commit or head_commit()
    root = Path(args.root)
    rows = [
        "| integrator | augmentation | dev R@1 p2a / a2p | test R@1 p2a / a2p | fell @ 20 % subst. | change @ 10 dB SNR |",
        "|---|---|---|---|---|---|",
    ]
    missing = []
    for integrator, label in INTEGRATORS.items():
        for aug in ("true", "false"):
            run = root / f"{integrator}_aug_{aug}"
            report, val = run / "eval" / "report.json", run / "validation.jsonl"
            if not (report.is_file() and val.is_file()):
                missing.append(run.name)
                continue
            r = json.loads(report.read_text())
            v = [json.loads(x) for x in val.read_text().splitlines() if x.strip()][-1]
            rows.append(
                f"| {label} | {'on' if aug == 'true' else 'off'} | {v['r1_p2a']:.3f} / {v['r1_a2p']:.3f} "
                f"| {r['retrieval']['p2a']['r1']:.3f} / {r['retrieval']['a2p']['r1']:.3f} "
                f"| {r['sensitivity']['0.2']['fell']:.1%} | {r['robustness']['snr_10']['mean_relative_change']:+.1%} |"
            )
    text = [
        f"Each run: `conf/scraps.yaml` with `model.integrator=...`, `augment.enabled=...`, "
        f"`augment.warmup_steps=0` and `train.max_steps={args.steps}` (same data, seed and batch), evaluated by "
        f"`scraps evaluate` on the test cuts (seed 0). Command: `./ablation.sh --steps {args.steps}`, at commit "
        f"`{commit}` (not part of `run.sh`: it trains six more models).",
        "",
        *rows,
    ]
    if missing:
        text += ["", f"Missing runs (not finished or failed; see {root}/<run>.log): {', '.join(missing)}"]
    Path(args.out).write_text("\n".join(text) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
