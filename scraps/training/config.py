"""Recipe configuration: YAML files validated against dataclass schemas, overridden by ``key=value``.

OmegaConf lives here and nowhere else: recipes turn the validated config into typed arguments for the models.
An unknown key (a typo) or a value of the wrong type is refused before anything is written, with one line that
names the key and the nearest valid one.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException, ValidationError


class ConfigError(ValueError):
    """A configuration file or override is invalid."""


@dataclass
class DataConfig:
    dir: str = "data"                      # folder with cuts_{train,dev,test}.jsonl.gz
    train_cuts: str = "cuts_train.jsonl.gz"
    dev_cuts: str = "cuts_dev.jsonl.gz"
    speakers: Optional[list[str]] = None    # keep only these speakers (None = all)
    max_utts_per_speaker: Optional[int] = None  # cap training utterances per speaker (first by id)
    max_dev: Optional[int] = None           # cap dev utterances used for validation
    num_workers: int = 0


@dataclass
class TrainConfig:
    seed: int = 0
    max_steps: int = 1000
    batch_size: int = 32                    # utterances per batch and process
    max_duration: Optional[float] = None    # seconds of audio per batch (with or instead of batch_size)
    num_buckets: int = 10
    grad_accum: int = 1
    lr: float = 1e-3
    min_lr_ratio: float = 0.05              # cosine decays to lr * min_lr_ratio
    warmup_steps: int = 100
    weight_decay: float = 0.01
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    grad_clip: float = 1.0
    mixed_precision: str = "no"             # no | bf16 | fp16 (bf16 for GPUs; fp32 is faster on CPU)
    log_every: int = 10
    val_every: int = 200
    ckpt_every: int = 200
    keep_last: int = 3
    max_nan_in_a_row: int = 10


def load_config(schema: type, path: str | Path | None, overrides: list[str] | None = None) -> DictConfig:
    """Merge ``schema`` defaults <- YAML file <- ``key=value`` overrides, validating names and types."""
    base = OmegaConf.structured(schema)
    layers = []
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}; pass --config with a YAML file (see egs/*/conf/)")
        try:
            loaded = OmegaConf.load(path)
        except Exception as exc:
            raise ConfigError(f"cannot parse config {path}: {str(exc).splitlines()[0]}") from None
        if not isinstance(loaded, DictConfig):
            raise ConfigError(f"config {path} must map keys to values at the top level (e.g. 'train:'), not a list")
        layers.append(loaded)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. train.max_steps=100)")
    try:
        layers.append(OmegaConf.from_dotlist(list(overrides or [])))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"bad override: {str(exc).splitlines()[0]}") from None
    cfg = base
    for layer in layers:
        _check_keys(base, layer, "")
        try:
            cfg = OmegaConf.merge(cfg, layer)
        except ValidationError as exc:
            key = getattr(exc, "full_key", None) or "?"
            raise ConfigError(f"config key '{key}' has a value of the wrong type: {_first_line(exc)}") from None
        except OmegaConfBaseException as exc:
            raise ConfigError(f"invalid config: {_first_line(exc)}") from None
    OmegaConf.set_readonly(cfg, True)
    return cfg


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def _nearest(key: str, valid: list[str]) -> list[str]:
    """The valid key a typo most likely meant: one that extends or truncates it, else the closest spelling."""
    extended = [v for v in valid if v.startswith(key) or key.startswith(v)]
    if extended:
        return [max(extended, key=lambda v: difflib.SequenceMatcher(None, key, v).ratio())]
    return difflib.get_close_matches(key, valid, n=1, cutoff=0.5)


def _check_keys(schema: Any, layer: Any, prefix: str) -> None:
    """Refuse keys of ``layer`` that ``schema`` does not have, suggesting the nearest one."""
    if not isinstance(layer, DictConfig) or not isinstance(schema, DictConfig):
        return
    if OmegaConf.get_type(schema) is dict:  # free-form dict field: any key is fine
        return
    valid = list(schema.keys())
    for key in layer.keys():
        full = f"{prefix}{key}"
        if key not in valid:
            near = _nearest(str(key), [str(v) for v in valid])
            hint = f"; did you mean '{prefix}{near[0]}'?" if near else f"; valid keys here: {', '.join(map(str, valid))}"
            raise ConfigError(f"unknown config key '{full}'{hint}")
        section = schema.get(key)
        if isinstance(section, DictConfig) and OmegaConf.get_type(section) is not dict:
            if not isinstance(layer[key], DictConfig) and layer[key] is not None:
                first = next(iter(section.keys()), "key")
                raise ConfigError(f"config key '{full}' is a section: give its keys (e.g. '{full}.{first}: ...'), "
                                  f"not the value {layer[key]!r}")
        _check_keys(section if OmegaConf.is_config(section) else None, layer[key], f"{full}.")


def to_dict(cfg: DictConfig) -> dict:
    """Plain-dict copy of a config (for YAML next to checkpoints and exports)."""
    return OmegaConf.to_container(cfg, resolve=True)


def save_config(cfg: DictConfig, path: str | Path) -> None:
    Path(path).write_text(OmegaConf.to_yaml(cfg, resolve=True))


def config_changes(old: dict, new: dict, prefix: str = "") -> list[str]:
    """``key: old -> new`` for every leaf that differs between two plain config dicts (dotted keys, sorted)."""
    out = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a} -> {b}")
    return out


__all__ = ["ConfigError", "DataConfig", "TrainConfig", "config_changes", "load_config", "save_config", "to_dict"]
