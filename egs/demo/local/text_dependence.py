"""How much of a TTS run's teacher-forced validation loss depends on the text at all.

For each run directory, the exported model is scored with the run's own validation loss (``TTSTask``, built from its
resolved ``config.yaml``: same speakers, same ``max_dev``, the aligner's prior as at its last step) on all its
validation cuts in one batch, twice, with the same mels, speakers and dropout draws:

- ``right``: each utterance with its own phonemes (the logged validation loss averages over batches instead, so it
  differs slightly);
- ``wrong``: each utterance with the phonemes of the next validation utterance (another sentence);
- ``gap``  = wrong - right: the part of the loss that the text explains.

If ``gap`` is small next to ``right``, the teacher-forced loss is mostly decided by the previous mel frames, and an
encoder (pretrained or not) can only move a small part of it. Run from egs/demo:

    python local/text_dependence.py exp/tts_scratch exp/tts_scraps [--out exp/compare]

(``--out DIR`` also writes ``DIR/text_dependence.{json,md}``; run.sh's stage 5 does, for RESULTS.md.)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from omegaconf import OmegaConf

from scraps.training.loop import load_recipe_cuts
from tts.model import TTSModel
from tts.training import TTSTask


@torch.no_grad()
def text_dependence(run_dir: Path) -> dict[str, float]:
    """Validation loss of ``run_dir``'s export with the right and with another utterance's phonemes."""
    task = TTSTask(OmegaConf.load(run_dir / "config.yaml"))  # the run's own data, speaker map and loss
    model = task.model = TTSModel.from_pretrained(run_dir / "export")
    batch = task.dataset()[load_recipe_cuts(task.cfg, task.cfg.data.dev_cuts)]
    if len(batch["ids"]) < 2:
        raise SystemExit(f"text_dependence: {run_dir} has fewer than 2 validation utterances; nothing to swap")
    other = torch.roll(torch.arange(len(batch["ids"])), 1)

    def loss(b: dict) -> float:
        torch.manual_seed(0)  # the prenet's dropout stays on at inference: same draws for both texts
        return float(task.teacher_forced_loss(model, b, task.cfg.train.max_steps)[0])

    right = loss(batch)
    wrong = loss({**batch, "phonemes": batch["phonemes"][other], "phoneme_lens": batch["phoneme_lens"][other]})
    return {"utterances": len(batch["ids"]), "right": right, "wrong": wrong, "gap": wrong - right,
            "gap_fraction": (wrong - right) / right}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="TTS run directories (with config.yaml and export/)")
    parser.add_argument("--out", type=Path, help="also write text_dependence.json and text_dependence.md here")
    args = parser.parse_args()
    for run in args.runs:
        if not (run / "config.yaml").is_file() or not (run / "export").is_dir():
            raise SystemExit(f"text_dependence: {run} is not a finished TTS run (config.yaml and export/ are "
                             "needed); train it first (run.sh --stage 4)")
    torch.set_num_threads(1)
    results = {str(run): text_dependence(run) for run in args.runs}
    rows = ["| run | validation utterances | loss, own text | loss, another utterance's text | gap (text-explained) |",
            "|---|---|---|---|---|"]
    rows += [f"| {run} | {r['utterances']} | {r['right']:.3f} | {r['wrong']:.3f} | {r['gap']:.3f} "
             f"({100 * r['gap_fraction']:.0f} % of the loss) |" for run, r in results.items()]
    print("\n".join(rows))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "text_dependence.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "text_dependence.md").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
