"""Stage 1: SCRAPS contrastive pretraining.

    accelerate launch recipes/pretrain_scraps.py --config egs/demo/conf/scraps.yaml [key=value ...]
    python recipes/pretrain_scraps.py --config egs/demo/conf/scraps.yaml train.max_steps=100

Reruns of the same command resume from the latest checkpoint under <exp_dir>/checkpoints (unless --no-resume);
the final model is exported to <exp_dir>/export (load it with ``ScrapsModel.from_pretrained``).
"""
import sys

from scraps.task import ScrapsRecipeConfig, ScrapsTask
from scraps.training.cli import run_recipe

if __name__ == "__main__":
    sys.exit(run_recipe(__doc__.splitlines()[1], ScrapsRecipeConfig, ScrapsTask))
