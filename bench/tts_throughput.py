"""TTS training throughput: teacher-forced mel frames per second of full training steps.

The model and the step are the recipe's own: the config is loaded with ``load_config`` into ``TTSRecipeConfig``,
``TTSTask`` builds the model, and each step is the task's ``training_step`` (mel from the waveform, teacher-forced
forward with the aligner, monotonic alignment search and the duration predictor, ``tts_loss`` with its alignment
and duration terms, the aligner's prior as at step 0) + backward + gradient clipping + AdamW, as the training loop
runs it. The batch is synthetic (noise waveforms of
~``--seconds``, ~13 random phoneme ids per second, one speaker) and already on the device, so data loading is
not measured. Goal: >= 200,000 training mel frames/s on one H100 with the LJSpeech config and --bf16.

Run: ``.venv/bin/python bench/tts_throughput.py [--batch-size N] [--steps N] [--device cuda --bf16]``
"""
from __future__ import annotations

from _common import Figure, report_training, run_training_benchmark, training_parser

from scraps.audio import SAMPLE_RATE, num_frames
from tts.task import TTSRecipeConfig, TTSTask

GOAL_MEL_FRAMES_PER_S = 200_000.0
TACOTRON2_V100 = ("NVIDIA's Tacotron 2 (PyTorch, mixed precision) reports 20,992 training mel frames/s "
                  "on one V100")


def main() -> None:
    args = training_parser(__doc__.split("\n\n")[0], "egs/ljspeech/conf/tts.yaml").parse_args()
    device, model, batch, batch_how, m = run_training_benchmark(args, TTSRecipeConfig, TTSTask)

    step_s = m.timing["median_s"]
    batch_size = batch["audio"].shape[0]
    frames = float(num_frames(batch["audio_lens"]).sum())
    audio_s = float(batch["audio_lens"].sum()) / SAMPLE_RATE
    report_training("tts_throughput", args, device, model, batch, batch_how, m, [
        Figure("mel_frames_per_s", "training mel frames/s", frames / step_s),
        Figure("utterances_per_s", "utterances/s", batch_size / step_s),
        Figure("audio_hours_per_hour", "audio hours per hour", audio_s / step_s),
    ], ("mel_frames_per_s", GOAL_MEL_FRAMES_PER_S, "one H100, LJSpeech config, bf16"), (TACOTRON2_V100,))


if __name__ == "__main__":
    main()
