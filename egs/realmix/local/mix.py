"""Mix the prepared LJSpeech, FSDD and espeak-ng corpora into one SCRAPS training manifest directory.

    python local/mix.py --config conf/mix.yaml [key=value ...]      # e.g. real_percent=25 out_dir=data/mix_r25

``real_percent`` is the share of the real training data kept (LJSpeech and FSDD train splits alike; a smaller share
is a subset of a larger one); the synthetic corpus is always used whole. Dev and test never change with it: the held-out
LJSpeech clips are the same in every mix. See ``scraps.data.mix`` for the namespacing and the lhotse calls.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

from scraps.data.mix import MixPart, mix_corpora
from scraps.data.prepare import DataError
from scraps.training.config import PATH, ConfigError, load_config


@dataclass
class Source:
    dir: str = field(default="", metadata=PATH)  # a folder written by python -m scraps.data.prepare
    real: bool = True     # real speech: its train split is cut to real_percent
    train: bool = True    # its train split goes into the mixed train split
    dev: bool = True      # its dev split goes into the mixed dev split (validation during training)
    test: bool = False    # its test split goes into the mixed test split
    repeat: int = 1       # times its (kept) train cuts are listed in the mixed train split


@dataclass
class MixConfig:
    out_dir: str = field(default="data/mix_r100", metadata=PATH)
    real_percent: float = 100.0
    seed: int = 0
    ljspeech: Source = field(default_factory=Source)
    fsdd: Source = field(default_factory=Source)
    espeak: Source = field(default_factory=lambda: Source(real=False))


def parts_of(cfg) -> list[MixPart]:
    """The MixParts that ``cfg`` (a loaded MixConfig) describes, in the order ljspeech, fsdd, espeak."""
    if not 0 < cfg.real_percent <= 100:
        raise ConfigError(f"real_percent must be in (0, 100], got {cfg.real_percent}")
    parts = []
    for corpus in ("ljspeech", "fsdd", "espeak"):
        src = cfg[corpus]
        splits = {name: name for name in ("train", "dev", "test") if src[name]}
        fraction = cfg.real_percent / 100 if src.real else 1.0
        parts.append(MixPart(corpus, src.dir, splits, train_fraction=fraction, repeat=src.repeat))
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="YAML file (conf/mix.yaml)")
    parser.add_argument("--force", action="store_true", help="mix again even when the output is up to date")
    parser.add_argument("overrides", nargs="*", help="key=value overrides")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(MixConfig, args.config, args.overrides)
        mix_corpora(parts_of(cfg), cfg.out_dir, seed=cfg.seed, force=args.force)
    except (ConfigError, DataError) as exc:
        print(f"mix.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
