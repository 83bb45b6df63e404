"""Command-line entry shared by the training recipes: ``--config FILE [--no-resume] [key=value ...]``."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from omegaconf import DictConfig

from scraps.training.config import load_config


def run_recipe(
    description: str,
    schema: type,
    make_task: Callable[[DictConfig], object],
    argv: list[str] | None = None,
    flags: dict[str, tuple[str, type, str]] | None = None,
) -> int:
    """Parse arguments, load and validate the config, train; user errors end in one line and exit code 2.

    ``flags`` maps extra command-line options to config keys, ``{"--init-from-scraps": ("init_from_scraps",
    str, help)}``: a given flag becomes the override ``key=value``, so the resolved config records it.
    """
    from scraps.training.checkpoint import CheckpointError
    from scraps.training.loop import TrainingStopped, train

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", required=True, help="recipe YAML, e.g. egs/demo/conf/scraps.yaml")
    parser.add_argument("--no-resume", action="store_true", help="start from step 0 even if checkpoints exist")
    for flag, (key, kind, text) in (flags or {}).items():
        parser.add_argument(flag, dest=key, type=kind, metavar=key.split(".")[-1].upper(), help=f"{text} ({key}=)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.max_steps=100 exp_dir=exp/x")
    args = parser.parse_intermixed_args(argv)  # key=value overrides may come before or after the flags
    overrides = list(args.overrides)
    for key, _, _ in (flags or {}).values():
        if getattr(args, key) is not None:
            overrides.append(f"{key}={getattr(args, key)}")
    try:
        cfg = load_config(schema, args.config, overrides)
        export = train(make_task(cfg), cfg, resume=not args.no_resume)
    except (ValueError, FileNotFoundError, TrainingStopped, CheckpointError) as exc:
        print(f"error: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"done: model exported to {export}")
    return 0
