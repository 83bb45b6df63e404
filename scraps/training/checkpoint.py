"""Training checkpoints for resume: written atomically, validated on load, the last K kept.

A checkpoint is a directory ``<exp_dir>/checkpoints/step-00001234/`` holding
``model.safetensors``, ``optimizer.pt`` (tensors and numbers only; read with ``weights_only=True``),
``scheduler.json``, ``trainer_state.json`` (step, data position, counters), ``config.yaml`` (the resolved
config) and, written last, ``COMPLETE``. (No RNG state: the loop seeds every step from (seed, step, rank).) It is assembled in a hidden
temporary directory and renamed into place, so a run killed at any moment leaves either a whole checkpoint or
none. Exported models (``export/``) are separate: they hold what inference needs, not training state.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

COMPLETE = "COMPLETE"
_STEP_DIR = re.compile(r"^step-(\d{8})$")


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
    """The main process writes the shared state, then ``COMPLETE``, fsyncing each file."""
    tmp.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model_state.items()}, str(tmp / "model.safetensors"))
    torch.save(optimizer_state, tmp / "optimizer.pt")
    _write_json(tmp / "scheduler.json", scheduler_state)
    _write_json(tmp / "trainer_state.json", trainer_state)
    (tmp / "config.yaml").write_text(config_yaml)
    for f in tmp.iterdir():
        _fsync_file(f)
    (tmp / COMPLETE).write_text("ok\n")
    _fsync_file(tmp / COMPLETE)


def publish(tmp: Path, final: Path, keep_last: int) -> list[Path]:
    """Rename the finished temporary directory into place and drop all but the newest ``keep_last``."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    removed = []
    for old in list_checkpoints(final.parent)[keep_last:]:
        shutil.rmtree(old, ignore_errors=True)
        removed.append(old)
    return removed


def clean_stale_tmp(ckpt_root: Path) -> None:
    """Remove temporary directories left by a run that was killed while writing."""
    if ckpt_root.is_dir():
        for p in ckpt_root.glob(".tmp-step-*"):
            shutil.rmtree(p, ignore_errors=True)


def describe_write_error(exc: OSError, where: Path, ckpt_root: Path) -> str:
    kept = ", ".join(p.name for p in list_checkpoints(ckpt_root)) or "none"
    what = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    return f"could not write checkpoint {where} ({what}); earlier checkpoints are intact: {kept}"


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read and validate every file of a checkpoint; raises CheckpointError naming the bad file."""
    out: dict[str, Any] = {}
    current = path
    try:
        current = path / "model.safetensors"
        out["model"] = load_file(str(current))
        current = path / "optimizer.pt"
        out["optimizer"] = torch.load(current, map_location="cpu", weights_only=True)
        current = path / "scheduler.json"
        out["scheduler"] = json.loads(current.read_text())
        current = path / "trainer_state.json"
        out["trainer"] = json.loads(current.read_text())
    except Exception as exc:  # any parse failure means the file is damaged
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint file {current} is unreadable ({reason})") from None
    return out


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj))


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
