"""Does a SCRAPS-initialised encoder make the TTS converge faster? Thresholds reached and held, over seeds.

Reads TTS training runs (``validation.jsonl`` + ``config.yaml`` written by the training loop) in two arms, runs
from scratch and runs whose phonetic encoder was initialised from SCRAPS, which must agree in every setting but
the initialisation and the seed. For every threshold (:data:`THRESHOLDS`, plus the scratch arm's final
teacher-forced loss) and every run it finds the first validation step from which the figure stays on the good
side of the threshold at every later validation ("reached and held"), and the training wall time
(``train_seconds``) at that step. Per arm: mean and range over runs; ``speedup`` = mean scratch steps / mean
SCRAPS steps when every run of both arms got there. A run that never gets there is reported as such; when only
scratch runs miss a threshold, ``speedup_more_than`` bounds the speedup from below (a scratch run that never got
there counts with its last validation step, which it would have needed more than).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

# Settings that define a run's initialisation, seed and location: the only ones allowed to differ.
FREE_KEYS = {"exp_dir", "init_from_scraps", "freeze_encoder_steps", "encoder_lr_scale", "train.seed"}
ARMS = ("scratch", "scraps")


@dataclass(frozen=True)
class Threshold:
    name: str
    key: str            # the validation.jsonl field
    value: float
    higher_is_better: bool

    def met(self, v: float) -> bool:
        return v >= self.value if self.higher_is_better else v <= self.value

    def describe(self) -> str:
        return f"{self.key} {'>=' if self.higher_is_better else '<='} {self.value:g}"


THRESHOLDS = (
    Threshold("recall@1 >= 0.9", "scraps_recall_at_1", 0.9, True),
    Threshold("SCRAPS score >= 0.6", "scraps_score", 0.6, True),
    Threshold("focus rate >= 0.5", "focus_rate", 0.5, True),
)


class ComparisonError(ValueError):
    """The runs cannot be compared."""


def read_run(run_dir: str | Path) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """A run's config and its validation rows, one per step in step order (the last row of a repeated step)."""
    run_dir = Path(run_dir)
    cfg_path, val_path = run_dir / "config.yaml", run_dir / "validation.jsonl"
    for p in (cfg_path, val_path):
        if not p.is_file():
            raise ComparisonError(f"{p} not found; is {run_dir} a TTS training run that has validated?")
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
    """Flattened keys whose values differ, except the initialisation, seed and location."""
    a, b = _flatten(cfg_a), _flatten(cfg_b)
    return sorted(k for k in set(a) | set(b) if k not in FREE_KEYS and a.get(k) != b.get(k))


def reached_and_held(rows: Sequence[dict[str, float]], key: str, met: Callable[[float], bool]) -> dict | None:
    """The first row from which ``met(row[key])`` holds at every later row that has ``key`` -> that row's
    ``step`` and ``train_seconds``; None when the last row does not meet it (or no row has ``key``)."""
    have = [r for r in rows if r.get(key) is not None]
    first = None
    for r in have:
        if met(float(r[key])):
            first = first or r
        else:
            first = None
    if first is None:
        return None
    return {"step": int(first["step"]), "seconds": first.get("train_seconds")}


def _stats(values: list[float | None]) -> dict[str, Any]:
    got = [v for v in values if v is not None]
    return {
        "reached": len(got),
        "runs": len(values),
        "mean": sum(got) / len(got) if got else None,
        "min": min(got) if got else None,
        "max": max(got) if got else None,
    }


def compare(arms: dict[str, Sequence[str | Path]]) -> dict[str, Any]:
    """``{"scratch": [run dirs], "scraps": [run dirs]}`` -> the comparison (JSON-ready dict)."""
    if set(arms) != set(ARMS) or not all(arms[a] for a in ARMS):
        raise ComparisonError("give at least one run for each arm: --scratch RUN [RUN ...] --scraps RUN [RUN ...]")
    runs = {a: [(str(d), *read_run(d)) for d in arms[a]] for a in ARMS}
    reference = runs["scratch"][0]
    for arm in ARMS:
        for path, cfg, rows in runs[arm]:
            diff = setting_differences(reference[1], cfg)
            if diff:
                raise ComparisonError(
                    f"{path} differs from {reference[0]} in more than the initialisation and seed "
                    f"({', '.join(diff[:5])}); rerun it with identical settings"
                )
            if bool(cfg.get("init_from_scraps")) != (arm == "scraps"):
                raise ComparisonError(
                    f"{path} is {'not ' if arm == 'scraps' else ''}initialised from SCRAPS but was given as a "
                    f"{arm} run; pass scratch runs with --scratch and SCRAPS-initialised ones with --scraps"
                )
            if not rows:
                raise ComparisonError(f"{path} has no validation rows yet; let it validate at least once")
    final_losses = [float(rows[-1]["loss"]) for _, _, rows in runs["scratch"]]
    thresholds = [*THRESHOLDS, Threshold("scratch's final loss", "loss", sum(final_losses) / len(final_losses),
                                         False)]  # fmt: skip
    result: dict[str, Any] = {
        "definition": "first validation step from which the figure stays on the good side of the threshold at "
        "every later validation; seconds = training wall time to that step (validation excluded)",
        "arms": {a: [p for p, _, _ in runs[a]] for a in ARMS},
        "seeds": {a: [cfg.get("train", {}).get("seed") for _, cfg, _ in runs[a]] for a in ARMS},
        "scraps_export": runs["scraps"][0][1].get("init_from_scraps"),
        "thresholds": {},
        "final": {a: [{k: rows[-1].get(k) for k in ("step", "loss", "focus_rate", "scraps_score",
                                                     "scraps_recall_at_1", "free_mcd_dtw")}
                      for _, _, rows in runs[a]] for a in ARMS},  # fmt: skip
        "curves": {a: [rows for _, _, rows in runs[a]] for a in ARMS},
    }
    for th in thresholds:
        per_run = {a: [reached_and_held(rows, th.key, th.met) for _, _, rows in runs[a]] for a in ARMS}
        steps = {a: _stats([r["step"] if r else None for r in per_run[a]]) for a in ARMS}
        seconds = {a: _stats([r["seconds"] if r else None for r in per_run[a]]) for a in ARMS}
        scraps_done = steps["scraps"]["reached"] == steps["scraps"]["runs"]
        scratch_done = steps["scratch"]["reached"] == steps["scratch"]["runs"]
        # a scratch run that never got there would have needed more than its last step
        at_least = [r["step"] if r else int(rows[-1]["step"]) for r, (_, _, rows) in zip(per_run["scratch"],
                                                                                          runs["scratch"])]
        result["thresholds"][th.name] = {
            "condition": th.describe(),
            "per_run": per_run,
            "steps": steps,
            "seconds": seconds,
            "speedup": steps["scratch"]["mean"] / steps["scraps"]["mean"] if scraps_done and scratch_done else None,
            "speedup_more_than": (sum(at_least) / len(at_least) / steps["scraps"]["mean"]
                                  if scraps_done and not scratch_done else None),  # fmt: skip
            "ranges_apart": scraps_done and steps["scraps"]["max"] < min(
                (r["step"] if r else float("inf") for r in per_run["scratch"]), default=float("inf")),
        }
    return result


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _short(path: str | None) -> str:
    """A path relative to the current folder when it lies below it, else as given."""
    if not path:
        return "?"
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path


def _arm_cell(s: dict[str, Any]) -> str:
    if s["reached"] == 0:
        return f"not reached (0 of {s['runs']})"
    text = _fmt(s["mean"]) if s["runs"] == 1 else f"{_fmt(s['mean'])} ({_fmt(s['min'])}-{_fmt(s['max'])})"
    return text if s["reached"] == s["runs"] else f"{text}, {s['reached']} of {s['runs']} runs"


def _speedup(t: dict[str, Any]) -> str:
    if t["speedup"]:
        return f"{_fmt(t['speedup'])}x"
    if t["speedup_more_than"]:
        return f"> {_fmt(t['speedup_more_than'])}x"
    return "n/a"


def markdown(result: dict[str, Any]) -> str:
    """The thresholds table: steps (mean and range over runs), training seconds, speedup."""
    n = {a: len(result["arms"][a]) for a in ARMS}
    lines = [
        f"Runs: {n['scratch']} from scratch, {n['scraps']} initialised from SCRAPS "
        f"(`{_short(result['scraps_export'])}`). Step: the {result['definition']}.",
        "",
        "| threshold | scratch: step | SCRAPS init: step | scratch: seconds | SCRAPS init: seconds | speedup "
        "(steps) | ranges apart |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, t in result["thresholds"].items():
        lines.append(
            f"| {name} (`{t['condition']}`) | {_arm_cell(t['steps']['scratch'])} | {_arm_cell(t['steps']['scraps'])} "
            f"| {_arm_cell(t['seconds']['scratch'])} | {_arm_cell(t['seconds']['scraps'])} "
            f"| {_speedup(t)} | {'yes' if t['ranges_apart'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


PLOTTED = (("scraps_score", "SCRAPS score (free running)"), ("scraps_recall_at_1", "recall@1, 32-way (free running)"),
           ("free_mcd_dtw", "MCD-DTW, dB (free running)"), ("loss", "validation loss (teacher forced)"),
           ("focus_rate", "aligner focus rate"))  # fmt: skip


def plot(result: dict[str, Any], path: str | Path) -> None:
    """convergence.png: one panel per figure, every run's curve thin, each arm's mean line and min-max band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PLOTTED), figsize=(4.2 * len(PLOTTED), 3.4))
    colors = {"scratch": "tab:gray", "scraps": "tab:blue"}
    labels = {"scratch": "scratch", "scraps": "SCRAPS init"}
    for ax, (key, title) in zip(axes, PLOTTED):
        for arm in ARMS:
            curves = [[(r["step"], r[key]) for r in rows if r.get(key) is not None] for rows in result["curves"][arm]]
            curves = [c for c in curves if c]
            if not curves:
                continue
            for c in curves:
                ax.plot(*zip(*c), color=colors[arm], alpha=0.3, linewidth=0.8)
            steps = sorted(set.intersection(*(set(s for s, _ in c) for c in curves)))
            values = [[dict(c)[s] for c in curves] for s in steps]
            ax.plot(steps, [sum(v) / len(v) for v in values], color=colors[arm], label=labels[arm], linewidth=2)
            ax.fill_between(steps, [min(v) for v in values], [max(v) for v in values], color=colors[arm], alpha=0.15)
        ax.set(title=title, xlabel="step")
        ax.grid(alpha=0.3)
    labelled = [ax for ax in axes if ax.get_legend_handles_labels()[1]]
    if labelled:  # on the first panel that has curves (runs without a SCRAPS scorer have no score)
        labelled[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_comparison(arms: dict[str, Sequence[str | Path]], out_dir: str | Path) -> dict[str, Any]:
    """Compare, then write comparison.json, comparison.md and convergence.png into ``out_dir``."""
    result = compare(arms)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "comparison.md").write_text(markdown(result))
    plot(result, out / "convergence.png")
    return result
