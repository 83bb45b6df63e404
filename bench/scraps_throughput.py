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

from _common import Figure, report_training, run_training_benchmark, training_parser

from scraps.audio import SAMPLE_RATE
from scraps.task import ScrapsRecipeConfig, ScrapsTask

GOAL_UTTS_PER_S = 2000.0


def main() -> None:
    args = training_parser(__doc__.split("\n\n")[0], "egs/ljspeech/conf/scraps.yaml").parse_args()
    device, model, batch, batch_how, m = run_training_benchmark(args, ScrapsRecipeConfig, ScrapsTask)

    step_s = m.timing["median_s"]
    batch_size = batch["audio"].shape[0]
    audio_s = float(batch["audio_lens"].sum()) / SAMPLE_RATE
    report_training("scraps_throughput", args, device, model, batch, batch_how, m, [
        Figure("utterances_per_s", "utterances/s", batch_size / step_s),
        Figure("audio_hours_per_hour", "audio hours per hour", audio_s / step_s),
    ], ("utterances_per_s", GOAL_UTTS_PER_S, "one H100, LJSpeech config, bf16"))


if __name__ == "__main__":
    main()
