"""Reliability of training runs: SIGKILL at chosen and random moments, SIGINT/SIGTERM, damaged checkpoints and
exports, a full disk, and bad configurations. See docs/reliability.md for the guarantees these tests hold.

Runs that must really die are forked from the test process (``_Run``): the child has every module imported
already, so a run starts in well under a second; it runs the recipe entry point (``run_recipe``) exactly as
``recipes/*.py`` do, with stdout, stderr and the training log in a file.
"""
from __future__ import annotations

import errno
import json
import logging
import multiprocessing
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Callable

import pytest
import torch
from accelerate.state import AcceleratorState, GradientState
from safetensors.torch import load_file

import scraps.export as export_mod
from scraps.export import ModelDirError
from scraps.task import ScrapsRecipeConfig, ScrapsTask
from scraps.training import checkpoint as ckpt
from scraps.training.cli import run_recipe
from scraps.training.config import ConfigError, load_config
from tts.task import TTSRecipeConfig, TTSTask

REPO = Path(__file__).resolve().parents[1]
_FORK = multiprocessing.get_context("fork")

TINY = {
    "scraps": [
        "model.phonetic.dim=16", "model.phonetic.layers=1", "model.phonetic.heads=2",
        "model.acoustic.dim=16", "model.acoustic.layers=1", "model.acoustic.heads=2",
        "model.integrator_dim=16", "model.embed_dim=16",
        "train.batch_size=4", "train.warmup_steps=2", "train.lr=3e-3", "train.log_every=2",
    ],
    "tts": [
        "model.encoder.dim=16", "model.encoder.layers=1", "model.encoder.heads=2",
        "model.decoder.dim=16", "model.decoder.layers=1", "model.decoder.heads=2", "model.decoder.prenet_dim=16",
        "model.decoder.postnet_channels=16", "model.decoder.postnet_layers=2", "model.speaker_dim=4",
        "model.aligner_dim=8", "model.duration_channels=8", "val.free_running=1", "val.plots=false",
        "train.batch_size=4", "train.warmup_steps=2", "train.lr=3e-3", "train.log_every=2",
    ],
}
STAGES = {"scraps": (ScrapsRecipeConfig, ScrapsTask), "tts": (TTSRecipeConfig, TTSTask)}
# The runs the kill test interrupts: a checkpoint every step, the last 2 kept, validation at 3 and 6.
KILL_RUN = ["train.max_steps=6", "train.ckpt_every=1", "train.keep_last=2", "train.val_every=3"]


# ------------------------------------------------------------------------------------------------ run helpers
def _argv(stage: str, corpus: Path, exp: Path, *extra: str) -> list[str]:
    config = exp.parent / "recipe.yaml"  # every setting comes from the overrides; the file only has to exist
    if not config.exists():
        config.write_text("train:\n  seed: 0\n")
    return ["--config", str(config), f"exp_dir={exp}", f"data.dir={corpus}", *TINY[stage], *extra]


def _child(stage: str, argv: list[str], log_path: Path, hooks: list[Callable[[], None]]) -> None:
    """Body of a forked training process: the recipe's entry point, output to ``log_path``, exit code kept."""
    code = 1
    try:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdout = sys.stderr = open(1, "w", buffering=1, closefd=False)
        train_log = logging.getLogger("scraps.train")
        train_log.handlers[:] = [logging.StreamHandler(sys.stderr)]
        train_log.setLevel(logging.INFO)
        train_log.propagate = False
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
        for hook in hooks:
            hook()
        schema, task = STAGES[stage]
        code = run_recipe(stage, schema, task, argv=argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        os._exit(code)


class _Run:
    """A training run forked from the test process, which the test can poll, signal and kill."""

    def __init__(self, stage: str, argv: list[str], log_path: Path, hooks: list[Callable[[], None]] = ()):
        self.log_path = log_path
        self.proc = _FORK.Process(target=_child, args=(stage, argv, log_path, list(hooks)), daemon=True)
        self.proc.start()

    @property
    def output(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if not self.proc.is_alive():
                raise AssertionError(f"the run ended (exit {self.proc.exitcode}) before {what}:\n{self.output[-3000:]}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(f"timed out waiting for {what}:\n{self.output[-3000:]}")
            time.sleep(0.002)

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.join(30)
        assert self.proc.exitcode == -signal.SIGKILL, self.proc.exitcode

    def finish(self, timeout: float = 240.0) -> int:
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.kill()
            raise AssertionError(f"the run did not finish in {timeout} s:\n{self.output[-3000:]}")
        return self.proc.exitcode


def _block_forever(marker: Path, note: str) -> None:
    marker.write_text(note)
    threading.Event().wait()  # until the test kills this process


def _pause_while_writing_checkpoint(step: int, after: str) -> Callable[[], None]:
    """Hook: block (for the test to kill) right after ``after`` of checkpoint ``step`` reached the disk."""

    def install() -> None:
        real = ckpt._write_bytes

        def write(path: Path, data: bytes) -> None:
            real(path, data)
            if path.parent.name == f".tmp-step-{step:08d}" and path.name == after:
                _block_forever(path.parents[2] / "PAUSED", str(path))

        ckpt._write_bytes = write

    return install


def _pause_while_exporting() -> Callable[[], None]:
    """Hook: block right after the export's weights reached the disk (before the directory is renamed)."""

    def install() -> None:
        real = export_mod._fsync

        def fsync(path: Path) -> None:
            real(path)
            if path.name == export_mod.WEIGHTS and path.parent.name.startswith(".export.tmp-"):
                _block_forever(path.parents[1] / "PAUSED", str(path))

        export_mod._fsync = fsync

    return install


def _at_training_step(stage: str, step: int, action: Callable[[], None]) -> Callable[[], None]:
    """Hook: call ``action`` once, at the start of the first micro-batch of optimiser step ``step``."""

    def install() -> None:
        task = STAGES[stage][1]
        real = task.training_step
        done: list[bool] = []

        def training_step(self, model, batch, s, generator):
            if s == step and not done:
                done.append(True)
                action()
            return real(self, model, batch, s, generator)

        task.training_step = training_step  # in the forked child only

    return install


def _errors(text: str) -> list[str]:
    """The ``error: ...`` lines of a run's output (the last progress bar is not ended by a newline)."""
    return re.findall(r"error: [^\r\n]*", text)


def _step_dirs(exp: Path) -> list[str]:
    root = exp / "checkpoints"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def _assert_only_whole_checkpoints(exp: Path) -> list[str]:
    """Every visible ``step-N`` is complete and loads; returns their names (hidden leftovers are not listed)."""
    visible = [n for n in _step_dirs(exp) if not n.startswith(".")]
    listed = [p.name for p in ckpt.list_checkpoints(exp / "checkpoints")]
    assert sorted(listed) == visible, f"half-written checkpoint directories: {sorted(set(visible) - set(listed))}"
    for name in visible:
        ckpt.load_checkpoint(exp / "checkpoints" / name)
    return visible


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wb[k], wa[k], atol=1e-6, rtol=0, msg=k)


def _run_here(stage: str, argv: list[str]) -> int:
    """Run the recipe entry point in this process."""
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    schema, task = STAGES[stage]
    return run_recipe(stage, schema, task, argv=argv)


@pytest.fixture(scope="module")
def reference(tiny_corpus, tmp_path_factory) -> Callable[[str], Path]:
    """The uninterrupted run of each stage (KILL_RUN), made once per module on first use. It runs in this
    process, which also warms it up (lazy imports, kernels), so that the runs forked later start fast."""
    runs: dict[str, Path] = {}

    def get(stage: str) -> Path:
        if stage not in runs:
            exp = tmp_path_factory.mktemp(f"ref_{stage}") / "run"
            assert _run_here(stage, _argv(stage, tiny_corpus, exp, *KILL_RUN)) == 0
            runs[stage] = exp
        return runs[stage]

    return get


# ------------------------------------------------------------------------------------------------ SIGKILL
@pytest.mark.parametrize("stage", ["scraps", "tts"])
def test_sigkill_three_times_then_rerun_equals_the_uninterrupted_run(stage, tiny_corpus, reference, tmp_path):
    ref = reference(stage)
    exp = tmp_path / "run"
    argv = _argv(stage, tiny_corpus, exp, *KILL_RUN)
    paused = exp / "PAUSED"

    # 1. killed while checkpoint step-3 is half-written (weights on disk, optimizer state not yet)
    run = _Run(stage, argv, tmp_path / "log1.txt", [_pause_while_writing_checkpoint(3, "model.safetensors")])
    run.wait_for(paused.exists, "checkpoint 3 half-written")
    run.kill()
    paused.unlink()
    partial = exp / "checkpoints" / ".tmp-step-00000003"
    assert (partial / "model.safetensors").is_file() and not (partial / ckpt.COMPLETE).exists()
    assert _assert_only_whole_checkpoints(exp) == ["step-00000001", "step-00000002"]

    # 2. killed at a random moment: as soon as checkpoint 4 is published (in step 5, or pruning step-2)
    run = _Run(stage, argv, tmp_path / "log2.txt")
    run.wait_for((exp / "checkpoints" / "step-00000004" / ckpt.COMPLETE).exists, "checkpoint 4")
    run.kill()
    assert f"resuming from {exp / 'checkpoints' / 'step-00000002'} (step 2)" in run.output  # not the partial 3
    newest = _assert_only_whole_checkpoints(exp)[-1]
    assert newest >= "step-00000004"

    # 3. killed while the final export is being written
    run = _Run(stage, argv, tmp_path / "log3.txt", [_pause_while_exporting()])
    run.wait_for(paused.exists, "the export half-written")
    run.kill()
    paused.unlink()
    assert f"resuming from {exp / 'checkpoints' / newest}" in run.output
    assert not (exp / "export").exists() and list(exp.glob(".export.tmp-*"))
    assert _assert_only_whole_checkpoints(exp) == ["step-00000005", "step-00000006"]

    # the same command again: resumes from the last checkpoint, exports, and matches the uninterrupted run
    run = _Run(stage, argv, tmp_path / "log4.txt")
    assert run.finish() == 0, run.output[-3000:]
    assert f"resuming from {exp / 'checkpoints' / 'step-00000006'} (step 6)" in run.output
    _assert_same_weights(ref / "export", exp / "export")
    assert _step_dirs(exp) == ["step-00000005", "step-00000006"]  # no .tmp-/.trash- left
    assert not list(exp.glob(".export.*"))


def test_leftovers_of_a_killed_run_are_cleaned_and_never_listed(tmp_path):
    root = tmp_path / "checkpoints"
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters())
    for step in (1, 2, 3):
        tmp = ckpt.tmp_dir(root, step)
        ckpt.write_main_files(tmp, model.state_dict(), opt.state_dict(), {}, {"step": step}, "x: 1\n")
        ckpt.publish(tmp, ckpt.step_dir(root, step), keep_last=2)
    assert [p.name for p in ckpt.list_checkpoints(root)] == ["step-00000003", "step-00000002"]
    # what kills leave behind: a temporary dir, a trash dir, a step dir whose deletion was interrupted
    (root / ".tmp-step-00000004").mkdir()
    (root / ".trash-step-00000001-123").mkdir()
    (root / "step-00000000").mkdir()
    (root / "step-00000000" / "optimizer.pt").write_bytes(b"half")
    assert [p.name for p in ckpt.list_checkpoints(root)] == ["step-00000003", "step-00000002"]
    removed = sorted(p.name for p in ckpt.clean_stale_tmp(root))
    assert removed == [".tmp-step-00000004", ".trash-step-00000001-123", "step-00000000"]
    assert sorted(p.name for p in root.iterdir()) == ["step-00000002", "step-00000003"]


def test_checkpoints_of_an_abandoned_run_never_outrank_the_new_ones(tmp_path):
    """--no-resume (or a run that could not resume) publishes step 1 next to an older run's steps 5 and 6: those
    go, or keep_last would prune the new checkpoint in their favour."""
    root = tmp_path / "checkpoints"
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters())
    for step in (5, 6, 1):
        ckpt.write_main_files(ckpt.tmp_dir(root, step), model.state_dict(), opt.state_dict(), {}, {"step": step}, "")
        ckpt.publish(ckpt.tmp_dir(root, step), ckpt.step_dir(root, step), keep_last=2)
    assert [p.name for p in ckpt.list_checkpoints(root)] == ["step-00000001"]
    assert sorted(p.name for p in root.iterdir()) == ["step-00000001"]


def test_checkpoints_that_cannot_be_resumed_stop_the_run_in_one_line(tiny_corpus, reference, tmp_path, capsys):
    """The model config changed between runs: every checkpoint is skipped, and the run stops (exit 2) instead of
    starting over next to them; nothing is written."""
    exp = tmp_path / "run"
    shutil.copytree(reference("scraps"), exp, ignore=shutil.ignore_patterns("export", "tb"))
    before = _step_dirs(exp)
    code = _run_here("scraps", _argv("scraps", tiny_corpus, exp, *KILL_RUN, "model.embed_dim=32"))
    assert code == 2
    errors = _errors(capsys.readouterr().err)
    newest = exp / "checkpoints" / "step-00000006"
    assert len(errors) == 1 and errors[0].startswith(
        f"error: none of the 2 checkpoint(s) in {exp / 'checkpoints'} can be resumed (newest: step-00000006: "
        f"checkpoint file {newest / 'model.safetensors'} does not fit the model"), errors
    assert errors[0].endswith("or rerun with --no-resume to start over")
    assert _step_dirs(exp) == before and not (exp / "export").exists()


# ------------------------------------------------------------------------------------------------ SIGINT/SIGTERM
def test_sigint_finishes_the_step_checkpoints_and_exits_0_with_one_line(tiny_corpus, tmp_path):
    """The real recipe script in a subprocess, interrupted like Ctrl-C at whatever step it is in."""
    exp = tmp_path / "run"
    cmd = [sys.executable, str(REPO / "recipes" / "pretrain_scraps.py"),
           *_argv("scraps", tiny_corpus, exp, "train.max_steps=400", "train.ckpt_every=3", "train.val_every=1000")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(tmp_path / "out.txt", "w") as out, open(tmp_path / "err.txt", "w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        first = exp / "checkpoints" / "step-00000003" / ckpt.COMPLETE
        deadline = time.monotonic() + 180
        while not first.exists():
            assert proc.poll() is None, (tmp_path / "err.txt").read_text()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint after 180 s"
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0, (tmp_path / "err.txt").read_text()[-3000:]
    lines = [x for x in (tmp_path / "out.txt").read_text().splitlines() if "signal" in x]
    assert len(lines) == 1, lines
    step = int(lines[0].split("at step ")[1].split(";")[0])
    where = exp / "checkpoints" / f"step-{step:08d}"
    assert lines[0] == (f"stopped by signal at step {step}; checkpoint saved to {where}; "
                        f"rerun the same command to resume")
    assert 3 <= step < 400
    assert json.loads((where / "trainer_state.json").read_text())["step"] == step
    assert ckpt.list_checkpoints(exp / "checkpoints")[0] == where
    assert not (exp / "export").exists()


@pytest.mark.parametrize("grad_accum", [1, 2])
def test_sigterm_mid_step_finishes_that_step_and_saves_it(grad_accum, tiny_corpus, tmp_path):
    """SIGTERM arrives in the first micro-batch of step 3 (index 2): step 3 is completed, saved, exit 0."""
    exp = tmp_path / "run"
    argv = _argv("scraps", tiny_corpus, exp, "train.max_steps=50", "train.ckpt_every=1000", "train.val_every=1000",
                 f"train.grad_accum={grad_accum}")
    run = _Run("scraps", argv, tmp_path / "log.txt",
               [_at_training_step("scraps", 2, lambda: os.kill(os.getpid(), signal.SIGTERM))])
    assert run.finish() == 0, run.output[-3000:]
    where = exp / "checkpoints" / "step-00000003"
    assert (f"stopped by signal at step 3; checkpoint saved to {where}; rerun the same command to resume"
            in run.output.splitlines())
    assert json.loads((where / "trainer_state.json").read_text())["step"] == 3
    assert [p.name for p in ckpt.list_checkpoints(exp / "checkpoints")] == ["step-00000003"]
    assert not (exp / "export").exists()


# ------------------------------------------------------------------------------------------------ damaged files
def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x55
    path.write_bytes(bytes(data))


DAMAGE = {
    "model.safetensors truncated": ("model.safetensors", _truncate),
    "model.safetensors bit flip": ("model.safetensors", _flip_last_byte),
    "optimizer.pt truncated": ("optimizer.pt", _truncate),
    "optimizer.pt empty": ("optimizer.pt", lambda p: p.write_bytes(b"")),
    "optimizer.pt missing": ("optimizer.pt", lambda p: p.unlink()),
    "trainer_state.json garbage": ("trainer_state.json", lambda p: p.write_text("{not json")),
    "scheduler.json bit flip": ("scheduler.json", _flip_last_byte),
    "COMPLETE garbage": ("COMPLETE", lambda p: p.write_text("\x00\x01")),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_checkpoint_file_is_named_in_one_line(damage, reference, tmp_path):
    name, how = DAMAGE[damage]
    path = tmp_path / "step-00000006"
    shutil.copytree(reference("scraps") / "checkpoints" / "step-00000006", path)
    how(path / name)
    with pytest.raises(ckpt.CheckpointError) as err:
        ckpt.load_checkpoint(path)
    message = str(err.value)
    assert "\n" not in message and f"checkpoint file {path / name} " in message, message


def test_resume_skips_a_damaged_checkpoint_says_which_and_still_matches(tiny_corpus, reference, tmp_path):
    ref = reference("scraps")
    exp = tmp_path / "run"
    shutil.copytree(ref, exp, ignore=shutil.ignore_patterns("export", "tb", "*.txt"))
    bad = exp / "checkpoints" / "step-00000006" / "model.safetensors"
    _truncate(bad)
    run = _Run("scraps", _argv("scraps", tiny_corpus, exp, *KILL_RUN), tmp_path / "log.txt")
    assert run.finish() == 0, run.output[-3000:]
    assert f"skipping damaged checkpoint step-00000006: checkpoint file {bad} is truncated" in run.output
    assert f"resuming from {exp / 'checkpoints' / 'step-00000005'} (step 5)" in run.output
    _assert_same_weights(ref / "export", exp / "export")  # step 6 was redone exactly
    _assert_only_whole_checkpoints(exp)


def test_resume_never_half_loads_a_checkpoint_that_does_not_fit(tmp_path, caplog):
    from scraps.training.loop import _resume, make_scheduler

    root = tmp_path / "checkpoints"
    torch.manual_seed(0)
    good, other = torch.nn.Linear(3, 2), torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2))
    train_cfg = load_config(ScrapsRecipeConfig, None, []).train

    one_group = make_scheduler(torch.optim.AdamW(good.parameters()), train_cfg).state_dict()

    def save(step: int, model: torch.nn.Module, opt: torch.optim.Optimizer, scheduler_state=one_group) -> None:
        ckpt.write_main_files(ckpt.tmp_dir(root, step), model.state_dict(), opt.state_dict(), scheduler_state,
                              {"step": step}, "")
        ckpt.publish(ckpt.tmp_dir(root, step), ckpt.step_dir(root, step), keep_last=5)

    save(1, good, torch.optim.AdamW(good.parameters()))
    save(2, other, torch.optim.AdamW(other.parameters()))  # another model (after a config change)
    # same names and shapes, but an optimizer state with other parameter groups
    save(3, good, torch.optim.AdamW([{"params": [good.weight]}, {"params": [good.bias]}]))
    save(4, good, torch.optim.AdamW(good.parameters()), scheduler_state={"junk": 1})  # not a LambdaLR state

    fresh = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(fresh.parameters())
    sched = make_scheduler(opt, train_cfg)
    with caplog.at_level(logging.INFO, logger="scraps.train"):
        state = _resume(fresh, opt, sched, root)
    assert state is not None and state.step == 1
    assert torch.equal(fresh.weight, good.weight) and torch.equal(fresh.bias, good.bias)
    assert opt.state_dict()["param_groups"][0]["params"] == [0, 1] and sched.last_epoch == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [w.split(":")[0] for w in warnings] == [f"skipping damaged checkpoint step-0000000{i}" for i in (4, 3, 2)]
    assert "scheduler.json does not fit" in warnings[0]
    assert "parameter groups" in warnings[1]
    assert "model.safetensors does not fit the model" in warnings[2]


@pytest.mark.parametrize("stage", ["scraps", "tts"])
@pytest.mark.parametrize("damage", ["weights truncated", "weights empty", "config garbage", "vocab truncated",
                                    "weights missing"])
def test_a_damaged_export_is_refused_in_one_line_naming_the_file(stage, damage, reference, tmp_path):
    from scraps import ScrapsModel
    from tts.model import TTSModel

    export = tmp_path / "export"
    shutil.copytree(reference(stage) / "export", export)
    name = {"weights truncated": "model.safetensors", "weights empty": "model.safetensors",
            "config garbage": "config.yaml", "vocab truncated": "vocab.json", "weights missing": "model.safetensors"}
    target = export / name[damage]
    if damage == "weights empty":
        target.write_bytes(b"")
    elif damage == "config garbage":
        target.write_text("model_type: [unclosed\n")
    elif damage == "weights missing":
        target.unlink()
    else:
        _truncate(target)
    loader = ScrapsModel if stage == "scraps" else TTSModel
    with pytest.raises(ModelDirError) as err:
        loader.from_pretrained(export)
    message = str(err.value)
    assert "\n" not in message and (str(target) in message or (name[damage] in message and str(export) in message))


# ------------------------------------------------------------------------------------------------ full disk
class _FullDisk:
    """``checkpoint._write_bytes`` on a disk that fills up in the middle of ``fail_in`` (half the bytes land)."""

    def __init__(self, real: Callable[[Path, bytes], None], fail_in: str) -> None:
        self.real, self.fail_in = real, fail_in

    def __call__(self, path: Path, data: bytes) -> None:
        if path.parent.name == self.fail_in and path.name == "optimizer.pt":
            with open(path, "wb") as f:
                f.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        self.real(path, data)


def test_disk_full_while_checkpointing_keeps_earlier_checkpoints_and_says_so(tiny_corpus, tmp_path, monkeypatch,
                                                                             capsys):
    exp = tmp_path / "run"
    monkeypatch.setattr(ckpt, "_write_bytes", _FullDisk(ckpt._write_bytes, ".tmp-step-00000004"))
    code = _run_here("scraps", _argv("scraps", tiny_corpus, exp, "train.max_steps=6", "train.ckpt_every=2",
                                     "train.val_every=1000"))
    assert code == 2
    errors = _errors(capsys.readouterr().err)
    root = exp / "checkpoints"
    assert errors == [(f"error: could not write checkpoint {root / 'step-00000004'} (disk full); earlier checkpoints "
                   f"are intact: step-00000002; free space under {exp} and rerun the same command to resume from "
                   f"step-00000002")]
    assert _step_dirs(exp) == ["step-00000002"]  # the partial step-4 is gone
    assert ckpt.load_checkpoint(root / "step-00000002")["trainer"]["step"] == 2
    assert not (exp / "export").exists()


def test_a_real_write_failure_from_the_kernel_is_reported_the_same_way(tiny_corpus, tmp_path):
    """RLIMIT_FSIZE makes the kernel refuse writes (EFBIG) as a full disk would (ENOSPC): torch.save and
    safetensors report such failures without an errno, so checkpoints are serialised in memory first."""

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    exp = tmp_path / "run"
    argv = _argv("scraps", tiny_corpus, exp, "train.max_steps=6", "train.ckpt_every=2", "train.val_every=1000")
    run = _Run("scraps", argv, tmp_path / "log.txt", [_at_training_step("scraps", 2, limit_file_size)])
    assert run.finish() == 2, run.output[-3000:]
    errors = _errors(run.output)
    where = exp / "checkpoints" / "step-00000004"
    assert len(errors) == 1 and errors[0].startswith(
        f"error: could not write checkpoint {where} (File too large); earlier checkpoints are intact: step-00000002;"
    ), errors
    assert _step_dirs(exp) == ["step-00000002"]


# ------------------------------------------------------------------------------------------------ bad configs
@pytest.mark.parametrize("yaml_text, message", [
    ("model:\n  phonetic:\n    dimm: 4\n",
     "unknown config key 'model.phonetic.dimm'; did you mean 'model.phonetic.dim'?"),
    ("trian:\n  lr: 0.1\n", "unknown config key 'trian'; did you mean 'train'?"),
    ("augment:\n  snr: [0, 10]\n", "unknown config key 'augment.snr'; did you mean 'augment.snr_db'?"),
    ("train:\n  max_steps: lots\n", "config key 'train.max_steps' has a value of the wrong type"),
    ("train:\n  max_steps: 1.5\n", "config key 'train.max_steps' has a value of the wrong type"),
    ("train:\n  lr: [1, 2]\n", "config key 'train.lr' has a value of the wrong type"),
    ("data:\n  speakers: spk1\n", "config key 'data.speakers' has a value of the wrong type"),
    ("train: {lr: [\n", "cannot parse config"),
])
def test_a_bad_yaml_config_is_refused_naming_the_key(yaml_text, message, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_config(ScrapsRecipeConfig, path, [])
    assert str(err.value).startswith(message) and "\n" not in str(err.value), str(err.value)


@pytest.mark.parametrize("override, message", [
    ("train.max_steps", "override 'train.max_steps' is not of the form key=value"),
    ("train.max_steps=", "config key 'train.max_steps' has a value of the wrong type"),
    ("exp_dirr=x", "unknown config key 'exp_dirr'; did you mean 'exp_dir'?"),
    ("model.encoder.layerz=2", "unknown config key 'model.encoder.layerz'; did you mean 'model.encoder.layers'?"),
    ("train.lr.x=1", "config key 'train.lr' has a value of the wrong type"),
    ("val.plots=maybe", "config key 'val.plots' has a value of the wrong type"),
])
def test_a_bad_override_is_refused_naming_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(TTSRecipeConfig, None, [override])
    assert str(err.value).startswith(message) and "\n" not in str(err.value), str(err.value)


@pytest.mark.parametrize("yaml_text, key", [("- a\n- b\n", "the top level"), ("train: 5\n", "'train'")])
def test_a_yaml_of_the_wrong_shape_is_refused_naming_the_key(yaml_text, key, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=key):
        load_config(ScrapsRecipeConfig, path, [])


def test_the_recipe_refuses_a_yaml_typo_in_one_line_and_writes_nothing(tiny_corpus, tmp_path, capsys):
    config = tmp_path / "typo.yaml"
    config.write_text("train:\n  max_steps: 3\n  ckpt_evry: 1\n")
    exp = tmp_path / "never"
    code = run_recipe("scraps", ScrapsRecipeConfig, ScrapsTask,
                      argv=["--config", str(config), f"exp_dir={exp}", f"data.dir={tiny_corpus}"])
    assert code == 2
    assert capsys.readouterr().err == "error: unknown config key 'train.ckpt_evry'; did you mean 'train.ckpt_every'?\n"
    assert not exp.exists()
