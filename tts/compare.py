"""The headline experiment: does a SCRAPS-initialised encoder make the TTS converge faster?

Reads two run directories (``validation.jsonl`` + ``config.yaml`` written by the training loop) that must be
identical in every setting except the encoder initialisation, and reports validation loss at fixed steps, the
step at which each run first reaches the scratch run's final validation loss, the step at which attention turns
diagonal, and ``speedup`` = (scratch steps) / (SCRAPS-initialised steps) to reach that loss.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

# Settings that define the initialisation (and the run's location): the only ones allowed to differ.
INIT_KEYS = {"exp_dir", "init_from_scraps", "freeze_encoder_steps"}


class ComparisonError(ValueError):
    """The two runs cannot be compared."""


def read_run(run_dir: str | Path) -> tuple[dict[str, Any], list[dict[str, float]]]:
    run_dir = Path(run_dir)
    cfg_path, val_path = run_dir / "config.yaml", run_dir / "validation.jsonl"
    for p in (cfg_path, val_path):
        if not p.is_file():
            raise ComparisonError(f"{p} not found; is {run_dir} a finished TTS training run?")
    cfg = yaml.safe_load(cfg_path.read_text())
    by_step: dict[int, dict[str, float]] = {}
    for line in val_path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            by_step[int(row["step"])] = row  # a resumed run may repeat a step: the last one counts
    return cfg, [by_step[s] for s in sorted(by_step)]


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix[:-1]: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}{k}."))
    return out


def setting_differences(cfg_a: dict, cfg_b: dict) -> list[str]:
    """Flattened keys whose values differ, except the initialisation keys."""
    a, b = _flatten(cfg_a), _flatten(cfg_b)
    return sorted(k for k in set(a) | set(b) if k not in INIT_KEYS and a.get(k) != b.get(k))


def first_step(rows: list[dict[str, float]], key: str, ok) -> int | None:
    return next((int(r["step"]) for r in rows if key in r and ok(r[key])), None)


def compare(scratch_dir: str | Path, scraps_dir: str | Path, focus_threshold: float = 0.5,
            metric: str = "loss") -> dict[str, Any]:
    cfg_s, rows_s = read_run(scratch_dir)
    cfg_p, rows_p = read_run(scraps_dir)
    diff = setting_differences(cfg_s, cfg_p)
    if diff:
        raise ComparisonError(
            f"the runs differ in more than the initialisation ({', '.join(diff[:5])}); rerun them with identical "
            f"settings"
        )
    if cfg_s.get("init_from_scraps"):
        raise ComparisonError(f"{scratch_dir} was initialised from SCRAPS; pass the scratch run first")
    if not cfg_p.get("init_from_scraps"):
        raise ComparisonError(f"{scraps_dir} was not initialised from SCRAPS (init_from_scraps is empty)")
    if not rows_s or not rows_p:
        raise ComparisonError("a run has no validation rows yet; let both runs finish")
    target = float(rows_s[-1][metric])
    reach_s = first_step(rows_s, metric, lambda v: v <= target)
    reach_p = first_step(rows_p, metric, lambda v: v <= target)
    steps_p = {int(r["step"]): r for r in rows_p}
    table = [
        {"step": int(r["step"]), "scratch": float(r[metric]), "scraps": float(steps_p[int(r["step"])][metric])}
        for r in rows_s if int(r["step"]) in steps_p
    ]
    return {
        "metric": f"validation {metric} (teacher forced)",
        "scratch_run": str(scratch_dir),
        "scraps_run": str(scraps_dir),
        "scraps_export": cfg_p.get("init_from_scraps"),
        "freeze_encoder_steps": cfg_p.get("freeze_encoder_steps", 0),
        "final_step": int(rows_s[-1]["step"]),
        "target_loss": target,
        "steps_to_target": {"scratch": reach_s, "scraps": reach_p},
        "speedup": (reach_s / reach_p) if (reach_s and reach_p) else None,
        "scraps_steps_fraction": (reach_p / reach_s) if (reach_s and reach_p) else None,
        "focus_threshold": focus_threshold,
        "steps_to_diagonal": {
            "scratch": first_step(rows_s, "focus_rate", lambda v: v >= focus_threshold),
            "scraps": first_step(rows_p, "focus_rate", lambda v: v >= focus_threshold),
        },
        "final": {
            "scratch": {k: rows_s[-1].get(k) for k in (metric, "focus_rate", "free_len_ratio", "scraps_score")},
            "scraps": {k: rows_p[-1].get(k) for k in (metric, "focus_rate", "free_len_ratio", "scraps_score")},
        },
        "curve": table,
        "focus_curve": [
            {"step": int(r["step"]), "scratch": r.get("focus_rate"), "scraps": steps_p[int(r["step"])].get("focus_rate")}
            for r in rows_s if int(r["step"]) in steps_p
        ],
    }


def markdown_table(result: dict[str, Any], max_columns: int = 8) -> str:
    curve = result["curve"]
    if len(curve) > max_columns:  # evenly spaced steps, always including the last
        idx = sorted({round(i * (len(curve) - 1) / (max_columns - 1)) for i in range(max_columns)})
        curve = [curve[i] for i in idx]
    fmt = lambda v: "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))  # noqa: E731
    lines = [
        "| step | " + " | ".join(str(r["step"]) for r in curve) + " |",
        "|---|" + "---|" * len(curve),
        "| scratch | " + " | ".join(fmt(r["scratch"]) for r in curve) + " |",
        "| SCRAPS init | " + " | ".join(fmt(r["scraps"]) for r in curve) + " |",
        "",
        "| | scratch | SCRAPS init |",
        "|---|---|---|",
        f"| steps to reach scratch's final {result['metric']} ({result['target_loss']:.3f}) | "
        f"{fmt(result['steps_to_target']['scratch'])} | {fmt(result['steps_to_target']['scraps'])} |",
        f"| steps until focus rate >= {result['focus_threshold']} | {fmt(result['steps_to_diagonal']['scratch'])} | "
        f"{fmt(result['steps_to_diagonal']['scraps'])} |",
        f"| final focus rate | {fmt(result['final']['scratch']['focus_rate'])} | "
        f"{fmt(result['final']['scraps']['focus_rate'])} |",
        f"| final free-running length / reference length | {fmt(result['final']['scratch'].get('free_len_ratio'))} | "
        f"{fmt(result['final']['scraps'].get('free_len_ratio'))} |",
        f"| final SCRAPS score of free-running output | {fmt(result['final']['scratch'].get('scraps_score'))} | "
        f"{fmt(result['final']['scraps'].get('scraps_score'))} |",
        "",
        f"speedup (scratch steps / SCRAPS-init steps to the scratch run's final loss): {fmt(result['speedup'])}",
    ]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label in (("scratch", "from scratch"), ("scraps", "SCRAPS-initialised encoder")):
        ax1.plot([r["step"] for r in result["curve"]], [r[key] for r in result["curve"]], marker="o", ms=3, label=label)
        pts = [(r["step"], r[key]) for r in result["focus_curve"] if r[key] is not None]
        ax2.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=label)
    ax1.axhline(result["target_loss"], color="gray", ls="--", lw=0.8, label="scratch final")
    ax1.set(xlabel="step", ylabel=result["metric"], title="validation loss")
    ax2.axhline(result["focus_threshold"], color="gray", ls="--", lw=0.8, label="diagonal threshold")
    ax2.set(xlabel="step", ylabel="focus rate", title="attention focus rate", ylim=(0, 1))
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_comparison(scratch_dir: str | Path, scraps_dir: str | Path, out_dir: str | Path,
                     focus_threshold: float = 0.5) -> dict[str, Any]:
    """Compare and write ``comparison.json``, ``comparison.md`` and ``convergence.png`` into ``out_dir``."""
    result = compare(scratch_dir, scraps_dir, focus_threshold)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.json").write_text(json.dumps(result, indent=1))
    (out / "comparison.md").write_text(markdown_table(result) + "\n")
    plot(result, out / "convergence.png")
    return result
