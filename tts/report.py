"""The TTS evaluation report on disk: ``report.json``, ``report.md`` and PNG plots of a few utterances."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from scraps.evaluation.driver import rounded

COLUMNS = (  # summary key, header, format
    ("scraps_score", "SCRAPS score", "{:.3f}"),
    ("recall_at_1", "recall@1 (32-way)", "{:.3f}"),
    ("mcd_dtw", "MCD-DTW (dB)", "{:.2f}"),
    ("length_ratio_mean", "length ratio", "{:.3f}"),
    ("length_within", "within 0.85-1.15", "{:.1%}"),
    ("hit_cap", "at cap", "{}"),
    ("wer", "WER", "{:.3f}"),
)


def markdown(report: dict[str, Any], title: str = "TTS evaluation") -> str:
    """The summary table (one row per system), the definitions and the skipped cuts as Markdown."""
    summary = report["summary"]
    cols = [c for c in COLUMNS if any(c[0] in s for s in summary.values())]
    lines = [
        f"# {title}",
        "",
        f"{report['n_utterances']} utterances synthesised free-running (seed {report['seed']}), "
        f"{report['n_skipped']} skipped; vocoder: {report['vocoder']}"
        + (f"; ASR: {report['asr']}" if report.get("asr") else "") + ".",
        "",
        "| system | " + " | ".join(h for _, h, _ in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for name, s in summary.items():
        cells = [fmt.format(s[key]) if s.get(key) is not None else "" for key, _, fmt in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Definitions:", ""]
    lines += [f"- **{k}**: {v}" for k, v in report["definitions"].items()]
    if report["skipped"]:
        lines += ["", f"Skipped ({report['n_skipped']}; every cut and its reason are in report.json):", ""]
        lines += [f"- `{s['id']}`: {s['reason']}" for s in report["skipped"][:10]]
        if report["n_skipped"] > 10:
            lines.append(f"- ... and {report['n_skipped'] - 10} more")
    return "\n".join(lines) + "\n"


def plot_utterances(mels: list[torch.Tensor], references: list[torch.Tensor], names: list[str], path: Path) -> None:
    """Reference and synthesised log-mels (100, t) of a few utterances, one row each, into one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(mels), 2, figsize=(12, 2.6 * len(mels)), squeeze=False)
    for row, (mel, ref, name) in enumerate(zip(mels, references, names)):
        for col, (m, what) in enumerate(((ref, "reference"), (mel, "free-running output"))):
            axes[row, col].imshow(m.cpu(), origin="lower", aspect="auto", interpolation="none", vmin=-12, vmax=3)
            axes[row, col].set(title=f"{name}: {what}", xlabel="frame", ylabel="mel bin")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_report(report: dict[str, Any], out_dir: str | Path, references: list[torch.Tensor] | None = None,
                 n_plots: int = 4, title: str = "TTS evaluation") -> list[Path]:
    """Write report.json, report.md and (with ``references``) utterances.png; return the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mels = report.get("_mels")
    public = {k: v for k, v in report.items() if not k.startswith("_")}
    paths = [out / "report.json", out / "report.md"]
    paths[0].write_text(json.dumps(rounded(public), indent=1, ensure_ascii=False) + "\n")
    paths[1].write_text(markdown(public, title))
    if mels and references and n_plots > 0:
        k = min(n_plots, len(mels))
        names = [row["id"] for row in report["utterances"][:k]]
        plot_utterances(mels[:k], references[:k], names, out / "utterances.png")
        paths.append(out / "utterances.png")
    return paths
