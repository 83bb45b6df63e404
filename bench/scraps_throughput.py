"""SCRAPS pretraining throughput: utterances/s and audio hours per hour of full training steps.

The model, the augmentation and the step are the recipe's own: the config is loaded with ``load_config`` into
``ScrapsRecipeConfig``, ``ScrapsTask`` builds the model and its ``WaveAugment``, and each step is the task's
``training_step`` (augmentation, mel, both encoders, integrators, contrastive loss) + backward + gradient
clipping + AdamW, as the training loop runs it. The batch is synthetic (noise waveforms of ~``--seconds``,
~13 random phoneme ids per second) and already on the device, so data loading is not measured
(see data_throughput.py). Goal: >= 2,000 utterances/s on one H100 with the LJSpeech config and --bf16.

Run: ``.venv/bin/python bench/scraps_throughput.py [--batch-size N] [--steps N] [--device cuda --bf16]``
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from _common import (
    Figure,
    measure_steps,
    report_training,
    run_settings,
    synthetic_batch,
    training_parser,
    training_step_fn,
    write_stub_data_dir,
)

from scraps.audio import SAMPLE_RATE
from scraps.training.config import ConfigError, load_config
from scraps.training.scraps_task import ScrapsRecipeConfig, ScrapsTask

GOAL_UTTS_PER_S = 2000.0


def main() -> None:
    args = training_parser(__doc__.split("\n\n")[0], "egs/ljspeech/conf/scraps.yaml").parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda, but torch sees no CUDA device; use --device cpu")
    with tempfile.TemporaryDirectory() as data_dir:
        write_stub_data_dir(Path(data_dir))
        try:
            cfg = load_config(ScrapsRecipeConfig, args.config, [*args.overrides, f"data.dir={data_dir}"])
        except ConfigError as exc:
            raise SystemExit(f"error: {exc}") from None
        task = ScrapsTask(cfg)
    model = task.build_model().to(device).train()
    batch_size, steps, warmup, batch_how = run_settings(args, cfg.train, device)
    batch = synthetic_batch(batch_size, args.seconds, task.vocab, device)
    step = training_step_fn(task, model, batch, cfg.train, device, args.bf16)
    m = measure_steps(step, device, steps, warmup, args.profile)

    step_s = m.timing["median_s"]
    audio_s = float(batch["audio_lens"].sum()) / SAMPLE_RATE
    report_training("scraps_throughput", args, device, model, batch, batch_how, m, [
        Figure("utterances_per_s", "utterances/s", batch_size / step_s),
        Figure("audio_hours_per_hour", "audio hours per hour", audio_s / step_s),
    ], ("utterances_per_s", GOAL_UTTS_PER_S, "one H100, LJSpeech config, bf16"))


if __name__ == "__main__":
    main()
