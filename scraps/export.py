"""Self-describing model directories: ``config.yaml`` + ``model.safetensors`` + ``vocab.json`` (+ extras).

Both stages save and load through here, so a directory written by one release is read the same way by the next
and nothing is ever unpickled; :class:`TextInputMixin` gives both models their stored text path.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from scraps.text import PhonemeVocab, TextError, TextFrontend

CONFIG = "config.yaml"
WEIGHTS = "model.safetensors"
VOCAB = "vocab.json"


class ModelDirError(ValueError):
    """A model directory is missing, incomplete, corrupt or of the wrong kind."""


def save_model_dir(
    out_dir: str | Path,
    model_type: str,
    config: dict[str, Any],
    state_dict: dict[str, torch.Tensor],
    *,
    extra_json: dict[str, Any] | None = None,
) -> Path:
    """Write ``out_dir`` atomically: files go to a temporary sibling that is renamed into place.

    ``config`` is stored under ``config.yaml`` with ``model_type`` added; ``extra_json`` maps file names
    (e.g. ``vocab.json``, ``speakers.json``) to JSON-serialisable objects.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    name = glob.escape(out_dir.name)
    for stale in [*out_dir.parent.glob(f".{name}.tmp-*"), *out_dir.parent.glob(f".{name}.old-*")]:
        shutil.rmtree(stale, ignore_errors=True)  # left by a process killed while exporting here
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        with open(tmp / CONFIG, "w") as f:
            yaml.safe_dump({"model_type": model_type, **config}, f, sort_keys=False)
        tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
        save_file(tensors, str(tmp / WEIGHTS), metadata={"model_type": model_type})
        for name, obj in (extra_json or {}).items():
            (tmp / name).write_text(json.dumps(obj, indent=1, ensure_ascii=False))
        for f in tmp.iterdir():
            _fsync(f)
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            out_dir.rename(old)
        tmp.rename(out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def load_model_dir(
    path: str | Path, model_type: str
) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, Any]]:
    """Read a directory written by :func:`save_model_dir`.

    Returns (config without ``model_type``, state dict, {json file name: object} for every other ``*.json``).
    Raises :class:`ModelDirError` with a one-line reason when it is not a ``model_type`` export.
    """
    path = Path(path)
    hint = f"pass a directory written by the {model_type} export (it holds {CONFIG} and {WEIGHTS})"
    if not path.is_dir():
        raise ModelDirError(f"model directory not found: {path}; {hint}")
    for name in (CONFIG, WEIGHTS):
        if not (path / name).is_file():
            raise ModelDirError(f"{path} is not a {model_type} model directory: {name} is missing; {hint}")
    try:
        config = yaml.safe_load((path / CONFIG).read_text())
    except yaml.YAMLError as exc:
        raise ModelDirError(f"cannot parse {path / CONFIG}: {str(exc).splitlines()[0]}") from None
    if not isinstance(config, dict) or config.get("model_type") != model_type:
        found = config.get("model_type") if isinstance(config, dict) else None
        raise ModelDirError(f"{path} holds a {found or 'unknown'} model, not a {model_type} model; {hint}")
    try:
        state = load_file(str(path / WEIGHTS))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelDirError(
            f"cannot read weights {path / WEIGHTS} (truncated or corrupt?): {str(exc).splitlines()[0]}"
        ) from None
    extras = {}
    for f in sorted(path.glob("*.json")):
        try:
            extras[f.name] = json.loads(f.read_text())
        except json.JSONDecodeError as exc:
            raise ModelDirError(f"cannot parse {f}: {exc}") from None
    config = {k: v for k, v in config.items() if k != "model_type"}
    return config, state, extras


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Load ``state`` into ``model`` exactly; a missing, extra or misshapen tensor raises ModelDirError (one line)."""
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        reason = str(exc).splitlines()[-1].strip()
        raise ModelDirError(f"{path}: weights do not fit the config ({reason})") from None
    if missing or unexpected:
        raise ModelDirError(
            f"{path}: weights do not fit the config (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )


class TextInputMixin:
    """The text path of a model that reads phoneme ids (:class:`scraps.model.ScrapsModel`,
    :class:`tts.model.TTSModel`), rebuilt from what its export stores.

    ``from_pretrained`` sets ``vocab`` (vocab.json) and ``frontend_config`` (config.yaml ``frontend``, as written by
    :meth:`TextFrontend.config`); the model's ``phonetic_encoder.max_len`` bounds the ids one pass reads.
    """

    vocab: PhonemeVocab | None
    frontend_config: dict[str, Any] | None

    def frontend(self) -> TextFrontend:
        """The text frontend stored with the model; :class:`ModelDirError` (one line) when there is none or it is
        unusable."""
        if not self.frontend_config:
            raise ModelDirError(
                "the model export holds no text frontend settings (config.yaml 'frontend' is empty), so it reads no "
                "text; give phonemes, or re-export it with save_pretrained(frontend_config=TextFrontend.config())"
            )
        try:
            return TextFrontend.from_config(self.frontend_config)
        except ValueError as exc:
            raise ModelDirError(f"the model export's text frontend settings are unusable: {exc}") from None

    def encode_text(self, text: str, frontend: TextFrontend | None = None) -> list[int]:
        """Text -> the model's phoneme ids (bos ... eos) through ``frontend`` (default: :meth:`frontend`).

        Raises :class:`TextError` when nothing is pronounceable or the ids are more than :meth:`check_ids` allows.
        """
        tokens = (frontend or self.frontend()).phonemize(text)
        return self.check_ids(self.vocab.encode(tokens), repr(text[:40]))

    def check_ids(self, ids: list[int], what: str) -> list[int]:
        """``ids`` unchanged; :class:`TextError` naming ``what`` when they are more than the model's phonetic
        encoder has positions for."""
        max_len = self.phonetic_encoder.max_len
        if len(ids) > max_len:
            raise TextError(
                f"text too long: {what} gives {len(ids)} phoneme tokens, this model reads at most {max_len}; split it"
            )
        return ids
