"""The evaluation report on disk: report.json, a Markdown summary and PNG plots (matplotlib, imported when
plotting)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scraps.evaluation.corruptions import NOISE_WEIGHTS, SNRS_DB


def _markdown(report: dict[str, Any]) -> str:
    def pct(x: float) -> str:
        return f"{100 * x:.1f} %"

    lines = [
        "# SCRAPS evaluation",
        "",
        f"Model `{report.get('model', '?')}`, {report['n_utterances']} utterances of `{report.get('cuts', '?')}` "
        f"({report['n_skipped']} skipped), seed {report['seed']}. Mean score: matched "
        f"{report['scores']['matched_mean']:.3f}, mismatched {report['scores']['mismatched_mean']:.3f}.",
        "",
        "| retrieval | p2a R@1 | p2a R@5 | p2a med. rank | a2p R@1 | a2p R@5 | a2p med. rank |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, key in (("whole set", "retrieval"), (f"{report['retrieval_32way']['way']}-way", "retrieval_32way")):
        r = report[key]
        lines.append(
            f"| {name} | " + " | ".join(
                f"{pct(r[d]['r1'])} | {pct(r[d]['r5'])} | {r[d]['median_rank']:g}" for d in ("p2a", "a2p")
            ) + " |"
        )
    lines += ["", "| phones substituted | score fell | score rose | mean relative change |", "|---|---|---|---|"]
    for rate, s in report["sensitivity"].items():
        lines.append(f"| {pct(float(rate))} | {pct(s['fell'])} | {pct(s['rose'])} | {pct(s['mean_relative_change'])} |")
    lines += ["", "| noise | mean relative change | mean score |", "|---|---|---|"]
    for key, s in report["robustness"].items():
        kind, level = key.split("_")
        label = f"Gaussian, a = {level}" if kind == "gauss" else f"white, SNR {level} dB"
        lines.append(f"| {label} | {pct(s['mean_relative_change'])} | {s['mean_score']:.3f} |")
    if "asr" in report:
        asr = report["asr"]
        rho = asr["spearman_score_wer"]
        lines += [
            "",
            f"Spearman correlation of SCRAPS score and WER over {asr['n_pairs']} (utterance, noise condition) pairs "
            f"({asr['n_utterances']} utterances, clean and noisy): "
            f"**{'undefined (constant WER or score)' if rho is None else f'{rho:.3f}'}**; clean WER "
            f"{pct(asr['mean_wer']['clean'])}. ASR: {asr['engine']}.",
        ]
    lines += ["", "Definitions:", ""] + [f"- {k}: {v}" for k, v in report["definitions"].items()]
    return "\n".join(lines) + "\n"


def _plot_corruption(report: dict[str, Any], path: Path) -> None:
    from matplotlib.figure import Figure

    clean = report["scores"]
    fig = Figure(figsize=(13, 4), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    panels = [
        ("phones substituted (fraction)", [0.0] + [float(r) for r in report["sensitivity"]],
         list(report["sensitivity"].values()), None),
        ("Gaussian noise weight a", [0.0, *NOISE_WEIGHTS], [report["robustness"][f"gauss_{a}"] for a in NOISE_WEIGHTS],
         None),
        ("white noise SNR (dB)", list(range(len(SNRS_DB) + 1)), [report["robustness"][f"snr_{d}"] for d in SNRS_DB],
         ["clean", *map(str, SNRS_DB)]),
    ]  # fmt: skip
    for ax, (label, x, stats, ticks) in zip(axes, panels):
        mean = [clean["matched_mean"]] + [s["mean_score"] for s in stats]
        std = [clean["matched_std"]] + [s["std_score"] for s in stats]
        ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, label="matched pairs (mean ± sd)")
        ax.axhline(clean["mismatched_mean"], color="grey", linestyle="--", label="mismatched pairs (mean)")
        ax.set_xlabel(label)
        if ticks:
            ax.set_xticks(x, ticks)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("SCRAPS score")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.suptitle(f"SCRAPS score against corruption ({report['n_utterances']} utterances, seed {report['seed']})")
    fig.savefig(path, dpi=100)


def _plot_asr(report: dict[str, Any], path: Path) -> None:
    asr = report["asr"]
    m = asr["n_utterances"]
    groups = {
        condition: (asr["pairs"]["score"][k * m : (k + 1) * m], asr["pairs"]["wer"][k * m : (k + 1) * m])
        for k, condition in enumerate(asr["conditions"])
    }
    rho = asr["spearman_score_wer"]
    title = f"Spearman {'n/a' if rho is None else f'{rho:.3f}'} over {asr['n_pairs']} pairs"
    plot_score_vs_wer(groups, title, path)


def plot_score_vs_wer(
    groups: dict[str, tuple[list[float], list[float]]],
    title: str,
    path: Path,
    ylabel: str = "word error rate",
    markers: dict[str, str] | None = None,
    size: tuple[float, float] = (5, 4),
) -> None:
    """Scatter PNG of SCRAPS score (x) against word error rate (y): ``groups`` maps a label (e.g. a noise condition)
    to its (scores, WERs), one colour each, drawn with ``markers[label]`` where given."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    for label, (scores, wers) in groups.items():
        ax.scatter(scores, wers, s=14, alpha=0.7, label=label, marker=(markers or {}).get(label, "o"))
    ax.legend(fontsize=7, ncol=1 if len(groups) <= 8 else 2)
    ax.set_xlabel("SCRAPS score")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=100)


def write_report(report: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write report.json, report.md, corruption.png (and score_vs_wer.png with ASR) -> the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "report.json", out_dir / "report.md", out_dir / "corruption.png"]
    paths[0].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    paths[1].write_text(_markdown(report))
    _plot_corruption(report, paths[2])
    if "asr" in report:
        paths.append(out_dir / "score_vs_wer.png")
        _plot_asr(report, paths[-1])
    return paths
