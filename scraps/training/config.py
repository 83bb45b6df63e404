"""Recipe configuration: YAML files validated against dataclass schemas, overridden by ``key=value``.

OmegaConf lives here and nowhere else: recipes turn the validated config into typed arguments for the models.
An unknown key (a typo) or a value of the wrong type is refused before anything is written, with one line that
names the key and the nearest valid one.

Paths: a schema marks a field that holds a filesystem path (or a list of paths) with ``metadata=PATH``
(``field(default="exp/x", metadata=PATH)``). A relative path written in a YAML file is relative to that file's
folder, so a config works whatever the current directory; one given as a ``key=value`` override, or left at the
schema's default, is relative to the current directory. The loaded config holds them all as absolute paths.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException, ValidationError


class ConfigError(ValueError):
    """A configuration file or override is invalid."""


PATH = {"path": True}  # dataclass field metadata: the value is a path (or a list of paths), see the module doc
T = TypeVar("T")


@dataclass
class DataConfig:
    dir: str = field(default="data", metadata=PATH)  # folder with cuts_{train,dev,test}.jsonl.gz
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
    """Merge ``schema`` defaults <- YAML file <- ``key=value`` overrides, validating names and types.

    Path fields come out absolute: relative ones from the YAML file against its folder, the others against the
    current directory.
    """
    base = OmegaConf.structured(schema)
    paths = path_keys(base)
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
        layers.append(OmegaConf.create(resolve_paths(OmegaConf.to_container(loaded), paths, path.parent)))
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
    _resolve_remaining_paths(cfg, paths, Path.cwd())
    OmegaConf.set_readonly(cfg, True)
    return cfg


def model_section(name: str, config_cls: type, derived: Iterable[str], module: str) -> type:
    """The schema of a recipe's ``model:`` section: a dataclass called ``name`` with the fields of the model config
    dataclass ``config_cls`` (same types and defaults) except ``derived``, those the task sets from the data (such
    as ``vocab_size``). ``module`` is the module that binds it to ``name`` (so that it pickles)."""
    derived = set(derived)
    fields = dataclasses.fields(config_cls)
    unknown = derived - {f.name for f in fields}
    if unknown:
        raise ValueError(f"{config_cls.__name__} has no fields {sorted(unknown)}")
    hints = typing.get_type_hints(config_cls)
    specs = []
    for f in fields:
        if f.name in derived:
            continue
        if f.default is not dataclasses.MISSING:
            specs.append((f.name, hints[f.name], field(default=f.default)))
        elif f.default_factory is not dataclasses.MISSING:
            specs.append((f.name, hints[f.name], field(default_factory=f.default_factory)))
        else:
            raise ValueError(f"{config_cls.__name__}.{f.name} has no default: list it among the derived fields")
    section = dataclasses.make_dataclass(name, specs)
    section.__module__ = module
    return section


def model_config(config_cls: type[T], section: DictConfig, **derived: Any) -> T:
    """The model config ``config_cls`` of a recipe's ``model:`` section (see :func:`model_section`) and the
    ``derived`` fields the task sets from the data."""
    return config_cls.from_dict({**OmegaConf.to_container(section, resolve=True), **derived})


def path_keys(schema: type | DictConfig) -> list[str]:
    """Dotted keys of the fields marked ``metadata=PATH`` in a schema dataclass (or a config built from one)."""
    node = schema if isinstance(schema, DictConfig) else OmegaConf.structured(schema)
    return _path_keys(node, "")


def _path_keys(node: DictConfig, prefix: str) -> list[str]:
    kind = OmegaConf.get_type(node)
    fields = dataclasses.fields(kind) if dataclasses.is_dataclass(kind) else ()
    marked = {f.name for f in fields if f.metadata.get("path")}
    keys = []
    for key in node.keys():
        if key in marked:
            keys.append(f"{prefix}{key}")
            continue
        try:
            child = node[key]
        except OmegaConfBaseException:  # a mandatory value not given yet
            continue
        if isinstance(child, DictConfig):
            keys += _path_keys(child, f"{prefix}{key}.")
    return keys


def _absolute(value: Any, base: str | Path) -> Any:
    """A relative path string (or each one of a list) made absolute against ``base``; anything else unchanged."""
    if isinstance(value, (list, tuple)) or OmegaConf.is_list(value):
        return [_absolute(v, base) for v in value]
    if isinstance(value, str) and value and "${" not in value:  # an interpolation is resolved where it is read
        return os.path.abspath(os.path.join(base, os.path.expanduser(value)))
    return value


def resolve_paths(values: dict, keys: Iterable[str], base: str | Path) -> dict:
    """A copy of the plain config dict ``values`` with the relative paths under the dotted ``keys`` made absolute
    against ``base`` (keys absent from ``values`` are skipped)."""
    out = copy.deepcopy(values)
    base = os.path.abspath(base)
    for key in keys:
        *parents, last = key.split(".")
        node: Any = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and last in node:
            node[last] = _absolute(node[last], base)
    return out


def _resolve_remaining_paths(cfg: DictConfig, keys: Iterable[str], base: Path) -> None:
    """Make the path values of ``cfg`` that are still relative (overrides, defaults) absolute against ``base``."""
    for key in keys:
        parent_key, _, last = key.rpartition(".")
        parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
        if not isinstance(parent, DictConfig) or last not in parent or OmegaConf.is_interpolation(parent, last):
            continue
        value = parent[last]
        resolved = _absolute(value, base)
        if resolved != (OmegaConf.to_container(value) if OmegaConf.is_list(value) else value):
            parent[last] = resolved


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


ABSENT = "<absent>"  # config_diff's value for a key one side lacks


def config_diff(old: dict, new: dict, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (old, new)}`` for every leaf that differs between two plain config dicts (sorted keys); a key
    one side lacks has ``ABSENT`` there."""
    out: dict[str, tuple[Any, Any]] = {}
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, ABSENT), new.get(key, ABSENT)
        if isinstance(a, dict) and isinstance(b, dict):
            out.update(config_diff(a, b, f"{prefix}{key}."))
        elif a != b:
            out[f"{prefix}{key}"] = (a, b)
    return out


def config_changes(old: dict, new: dict) -> list[str]:
    """``key: old -> new`` for every leaf that differs between two plain config dicts (dotted keys, sorted)."""
    return [f"{key}: {a} -> {b}" for key, (a, b) in config_diff(old, new).items()]


__all__ = ["ABSENT", "PATH", "ConfigError", "DataConfig", "TrainConfig", "config_changes", "config_diff", "load_config",
           "model_config", "model_section", "path_keys", "resolve_paths", "save_config", "to_dict"]
