"""Training checkpoints for resume: written atomically, validated on load, the last K kept.

A checkpoint is a directory ``<exp_dir>/checkpoints/step-00001234/`` holding
``model.safetensors``, ``optimizer.pt`` (tensors and numbers only; read with ``weights_only=True``),
``scheduler.json``, ``trainer_state.json`` (step, data position, counters), ``config.yaml`` (the resolved
config) and, written last, ``COMPLETE`` (the size and SHA-256 of every other file). (No RNG state: the loop
seeds every step from (seed, step, rank).)

Guarantees (tested in ``tests/test_reliability.py``, listed in ``docs/reliability.md``):

* A checkpoint is assembled in a hidden ``.tmp-step-N`` directory, every file fsynced, and renamed into place,
  so a run killed at any moment leaves whole checkpoints only; old ones are renamed out of the way
  (``.trash-*``) before they are deleted, so an interrupted clean-up never leaves a half-deleted ``step-N``.
  :func:`clean_stale_tmp` removes the leftovers of a killed run.
* Files are serialised in memory and written with plain ``write`` calls, so a full disk (or any other write
  failure) is an ``OSError`` with its errno, which :func:`describe_write_error` turns into one line.
* :func:`load_checkpoint` checks every file against the sizes and hashes in ``COMPLETE`` before parsing it and
  raises :class:`CheckpointError` naming the damaged file; nothing is unpickled.

Exported models (``export/``) are separate: they hold what inference needs, not training state.
"""
from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

COMPLETE = "COMPLETE"
_STEP_DIR = re.compile(r"^step-(\d{8})$")
_LEFTOVERS = (".tmp-step-*", ".trash-step-*")


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or read."""


def step_dir(ckpt_root: Path, step: int) -> Path:
    return ckpt_root / f"step-{step:08d}"


def tmp_dir(ckpt_root: Path, step: int) -> Path:
    return ckpt_root / f".tmp-step-{step:08d}"


def list_checkpoints(ckpt_root: Path) -> list[Path]:
    """Finished checkpoint directories, newest first (half-written ones are never listed)."""
    if not ckpt_root.is_dir():
        return []
    found = [p for p in ckpt_root.iterdir() if _STEP_DIR.match(p.name) and (p / COMPLETE).is_file()]
    return sorted(found, key=lambda p: p.name, reverse=True)


def write_main_files(
    tmp: Path,
    model_state: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    scheduler_state: dict[str, Any],
    trainer_state: dict[str, Any],
    config_yaml: str,
) -> None:
    """The main process writes the shared state, then ``COMPLETE`` (sizes and hashes), fsyncing each file.

    Everything is serialised in memory first, so that a failing write surfaces as an ``OSError`` (torch and
    safetensors report their own write failures as ``RuntimeError`` / ``SafetensorError`` without an errno).
    """
    tmp.mkdir(parents=True, exist_ok=True)
    optimizer_bytes = io.BytesIO()
    torch.save(optimizer_state, optimizer_bytes)
    files = {
        "model.safetensors": save_safetensors({k: v.detach().cpu().contiguous() for k, v in model_state.items()}),
        "optimizer.pt": optimizer_bytes.getvalue(),
        "scheduler.json": json.dumps(scheduler_state).encode(),
        "trainer_state.json": json.dumps(trainer_state).encode(),
        "config.yaml": config_yaml.encode(),
    }
    manifest = {}
    for name, data in files.items():
        _write_bytes(tmp / name, data)
        manifest[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    _fsync_dir(tmp)
    _write_bytes(tmp / COMPLETE, (json.dumps({"files": manifest}, indent=1) + "\n").encode())
    _fsync_dir(tmp)


def publish(tmp: Path, final: Path, keep_last: int) -> list[Path]:
    """Rename the finished temporary directory into place and drop all but the newest ``keep_last``.

    A run publishes ever higher steps, so checkpoints of higher steps than ``final`` belong to an abandoned run
    (``--no-resume``, or ones that could not be resumed): they go first, or they would outrank, and prune, the
    new ones.
    """
    if final.exists():  # e.g. a --no-resume run reaching a step an earlier run saved
        _discard(final)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    removed = []
    for old in list_checkpoints(final.parent):
        if old.name > final.name:
            _discard(old)
            removed.append(old)
    for old in list_checkpoints(final.parent)[max(1, keep_last):]:
        _discard(old)
        removed.append(old)
    return removed


def _discard(path: Path) -> None:
    """Delete a checkpoint directory so that no half-deleted ``step-N`` is ever visible: rename, then delete."""
    trash = path.with_name(f".trash-{path.name}-{os.getpid()}")
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def clean_stale_tmp(ckpt_root: Path) -> list[Path]:
    """Remove what a killed run can leave: temporary and trash directories, and ``step-N`` directories without
    ``COMPLETE`` (an interrupted deletion by an older version). Returns the removed paths."""
    removed: list[Path] = []
    if not ckpt_root.is_dir():
        return removed
    for pattern in _LEFTOVERS:
        removed += ckpt_root.glob(pattern)
    removed += [p for p in ckpt_root.iterdir() if _STEP_DIR.match(p.name) and not (p / COMPLETE).is_file()]
    for p in removed:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return removed


def describe_write_error(exc: OSError, where: Path, ckpt_root: Path) -> str:
    """One line for a failed checkpoint write: what happened, what survived, what to do."""
    kept = [p.name for p in list_checkpoints(ckpt_root)]
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    what = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    fix = f"free space under {ckpt_root.parent}" if full else "fix the cause"
    resume = f" to resume from {kept[0]}" if kept else ""
    return (f"could not write checkpoint {where} ({what}); earlier checkpoints are intact: "
            f"{', '.join(kept) or 'none'}; {fix} and rerun the same command{resume}")


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read and validate every file of a checkpoint; raises CheckpointError naming the bad file."""
    manifest = _read_manifest(path)
    out: dict[str, Any] = {}
    current = path
    try:
        current = path / "model.safetensors"
        out["model"] = load_safetensors(_read_checked(current, manifest))
        current = path / "optimizer.pt"
        out["optimizer"] = torch.load(io.BytesIO(_read_checked(current, manifest)), map_location="cpu",
                                      weights_only=True)
        current = path / "scheduler.json"
        out["scheduler"] = json.loads(_read_checked(current, manifest))
        current = path / "trainer_state.json"
        out["trainer"] = json.loads(_read_checked(current, manifest))
        if not all(isinstance(out[k], dict) for k in ("optimizer", "scheduler", "trainer")):
            raise ValueError("not a dictionary")
    except CheckpointError:
        raise
    except Exception as exc:  # any parse failure means the file is damaged
        raise CheckpointError(f"checkpoint file {current} is unreadable ({_first_line(exc)})") from None
    return out


def check_fits(model_state: dict[str, torch.Tensor], scheduler_state: dict[str, Any], data: dict[str, Any],
               path: Path) -> None:
    """Raise CheckpointError unless the checkpoint ``data`` read from ``path`` fits this model (same names and
    shapes) and scheduler (same state keys). Changes nothing."""
    saved = data["model"]
    missing = sorted(set(model_state) - set(saved))
    unexpected = sorted(set(saved) - set(model_state))
    wrong = [k for k in model_state if k in saved and tuple(saved[k].shape) != tuple(model_state[k].shape)]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"checkpoint file {path / 'model.safetensors'} does not fit the model (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}, other shape {wrong[:3]}); was the model config changed?"
        )
    needed = [k for k in ("last_epoch", "base_lrs", "lr_lambdas") if k in scheduler_state]
    saved_lrs = data["scheduler"].get("base_lrs")
    if any(k not in data["scheduler"] for k in needed) or (
        "base_lrs" in needed and len(saved_lrs or []) != len(scheduler_state["base_lrs"])
    ):
        raise CheckpointError(f"checkpoint file {path / 'scheduler.json'} does not fit the learning-rate scheduler")


def _read_manifest(path: Path) -> dict[str, dict[str, Any]] | None:
    """The per-file sizes and hashes in ``COMPLETE`` (None for checkpoints written before they were recorded)."""
    marker = path / COMPLETE
    try:
        text = marker.read_text()
    except OSError as exc:
        raise CheckpointError(f"checkpoint file {marker} is unreadable ({_first_line(exc)})") from None
    if text.strip() == "ok":
        return None
    try:
        files = json.loads(text)["files"]
        if not isinstance(files, dict):
            raise ValueError("no file list")
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint file {marker} is unreadable ({_first_line(exc)})") from None
    return files


def _read_checked(path: Path, manifest: dict[str, dict[str, Any]] | None) -> bytes:
    data = path.read_bytes()
    if manifest is None:
        return data
    entry = manifest.get(path.name)
    if entry is None:
        raise CheckpointError(f"checkpoint file {path} is not listed in {path.parent / COMPLETE}")
    if len(data) != entry.get("size"):
        raise CheckpointError(
            f"checkpoint file {path} is truncated or damaged ({len(data)} bytes, {entry.get('size')} written)"
        )
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise CheckpointError(f"checkpoint file {path} is corrupt (its SHA-256 differs from the one written)")
    return data


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and fsync it; any failure (ENOSPC, EIO, EFBIG, ...) is an ``OSError``."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
