"""Stage 2: train the autoregressive TTS, from scratch or with the phonetic encoder of a SCRAPS export.

    accelerate launch recipes/train_tts.py --config egs/demo/conf/tts.yaml [--init-from-scraps DIR] [key=value ...]

``--init-from-scraps DIR`` copies the phonetic encoder of a SCRAPS export (e.g. ``exp/scraps/export``);
``--freeze-encoder-steps N`` keeps it frozen for the first N steps and ``--encoder-lr-scale S`` trains it at S
times the learning rate from then on. Everything else comes from the config.
"""
import sys

from scraps.training.cli import run_recipe
from tts.task import TTSRecipeConfig, TTSTask

FLAGS = {
    "--init-from-scraps": ("init_from_scraps", str, "SCRAPS export whose phonetic encoder initialises the TTS"),
    "--freeze-encoder-steps": ("freeze_encoder_steps", int, "keep the copied encoder frozen for N steps"),
    "--encoder-lr-scale": ("encoder_lr_scale", float, "train the copied encoder at this fraction of the learning rate"),
}

if __name__ == "__main__":
    sys.exit(run_recipe(__doc__.splitlines()[1], TTSRecipeConfig, TTSTask, flags=FLAGS))
