"""The one training loop both stages use (SCRAPS pretraining and TTS), on accelerate.

A stage supplies a :class:`Task` (model, loss for a batch, validation, export); this module owns everything
else: devices and processes, mixed precision, gradient accumulation and clipping, AdamW with warmup + cosine,
progress and TensorBoard logs, validation every N steps, atomic checkpoints with exact resume, the NaN guard,
graceful SIGINT/SIGTERM, and the final export.

Resume is exact: the data order is a pure function of (seed, epoch) and the loop records how many batches of
the epoch it consumed, so a rerun replays the sampler to the same position; every random draw of a step
(dropout, augmentation) is seeded by (seed, step, rank); the optimiser and scheduler states are restored.
"""
from __future__ import annotations

import json
import logging
import shutil
import math
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from lhotse import CutSet
from omegaconf import DictConfig, OmegaConf
from torch import nn
from tqdm import tqdm

from scraps.audio import SAMPLE_RATE
from scraps.data.prepare import read_manifest
from scraps.progress import progress
from scraps.training import checkpoint as ckpt
from scraps.training.config import config_changes, path_keys, resolve_paths, save_config

log = logging.getLogger("scraps.train")


class Task(Protocol):
    """What a training stage provides to :func:`train` (:class:`scraps.task.ScrapsTask`, :class:`tts.task.TTSTask`)."""

    slow_params: tuple[str, int, float] | None
    """(parameter-name prefix, step, scale): the parameters under the prefix keep learning rate 0 until the step
    and then learn at ``scale`` times the schedule's rate; None: every parameter follows the schedule. Read once,
    after :meth:`build_model`."""

    val_images: dict[str, Any]
    """Images (H, W, 3) uint8 by TensorBoard tag, from the latest :meth:`validate`; logged after each validation."""

    def build_model(self) -> nn.Module:
        """The model to train, freshly initialised (the loop loads a checkpoint into it to resume)."""

    def dataset(self) -> Any:
        """A map dataset whose ``__getitem__(CutSet)`` returns a batch dict of tensors and lists."""

    def training_step(
        self, model: nn.Module, batch: dict, step: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """(loss, statistics to log) of ``batch`` at ``step``; random draws come from ``generator`` (or torch's
        global generator, seeded by the loop for the step)."""

    def after_optimizer_step(self, model: nn.Module) -> None:
        """Called with the unwrapped model after every optimiser step (e.g. to clamp a parameter)."""

    def validate(self, model: nn.Module, batches: Iterable[dict], step: int, out_dir: Path) -> dict[str, float]:
        """Metrics over the dev ``batches`` (model in eval mode, no gradient); may write files under ``out_dir``."""

    def export(self, model: nn.Module, out_dir: Path, config: dict) -> None:
        """Write the trained model to ``out_dir`` as a self-describing model directory with the resolved ``config``."""


@dataclass
class TrainState:
    step: int = 0
    epoch: int = 0
    batches_in_epoch: int = 0       # batches of this epoch already consumed (data position for resume)
    nan_skipped: int = 0
    nan_in_a_row: int = 0
    train_seconds: float = 0.0      # wall time spent in training steps and data loading (not validation, checkpoints)
    last: dict[str, float] = field(default_factory=dict)  # the latest step's loss and statistics


class TrainingStopped(RuntimeError):
    """The run cannot go on (e.g. too many non-finite losses in a row)."""


class _ReplaySampler:
    """Iterate a (deterministic) sampler for ``epoch``, skipping the first ``skip`` batches."""

    def __init__(self, sampler: Any, epoch: int, skip: int) -> None:
        self.sampler, self.epoch, self.skip = sampler, epoch, skip

    def __iter__(self) -> Iterator[CutSet]:
        self.sampler.set_epoch(self.epoch)
        it = iter(self.sampler)
        # only next() continues a lhotse sampler: iterating it again (e.g. `yield from`) restarts the epoch
        for _ in range(self.skip):
            next(it, None)
        while (batch := next(it, None)) is not None:
            yield batch


def load_recipe_cuts(cfg: DictConfig, name: str) -> CutSet:
    """Read the manifest ``name`` of ``cfg.data`` and apply the speaker / size filters the recipe asks for.

    (:func:`scraps.data.prepare.load_cuts` reads a split as prepared, without filters.)
    """
    path = Path(cfg.data.dir) / name
    if not path.is_file():
        raise FileNotFoundError(
            f"manifest not found: {path}; run the data preparation stage first (e.g. egs/demo/run.sh --stop-stage 1)"
        )
    cuts = read_manifest(path).to_eager()
    if len(cuts) == 0:
        raise ValueError(f"{path} holds no utterances (an evaluation-only preparation?); prepare the corpus with "
                         f"training and dev splits for a recipe")
    if cfg.data.speakers:
        keep = set(cfg.data.speakers)
        cuts = cuts.filter(lambda c: c.supervisions[0].speaker in keep)
    cuts = cuts.to_eager()
    if cfg.data.max_utts_per_speaker and name == cfg.data.train_cuts:
        taken: dict[str, int] = {}
        kept = []
        for c in sorted(cuts, key=lambda c: c.id):
            spk = c.supervisions[0].speaker
            if taken.get(spk, 0) < cfg.data.max_utts_per_speaker:
                taken[spk] = taken.get(spk, 0) + 1
                kept.append(c)
        cuts = CutSet.from_cuts(kept)
    if cfg.data.max_dev and name == cfg.data.dev_cuts:
        cuts = CutSet.from_cuts(sorted(cuts, key=lambda c: c.id)[: cfg.data.max_dev])
    if len(cuts) == 0:
        raise ValueError(f"no utterances left in {path} after the config's filters (data.speakers, ...)")
    return cuts


def lr_lambda(warmup: int, total: int, min_ratio: float):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def param_groups(model: nn.Module, weight_decay: float, slow_prefix: str | None = None) -> list[dict]:
    """AdamW groups: no decay for norms, biases, position scales, the logit scale (all tensors of rank < 2).

    Parameters whose names start with ``slow_prefix`` go in groups of their own (marked ``slow``), so that the
    schedule can hold their learning rate at 0 for a while and scale it after.
    """
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            slow = bool(slow_prefix) and name.startswith(slow_prefix)
            groups.setdefault((slow, p.ndim >= 2), []).append(p)
    return [
        {"params": ps, "weight_decay": weight_decay if decay else 0.0, "slow": slow}
        for (slow, decay), ps in sorted(groups.items())
    ]


def make_scheduler(optimizer: torch.optim.Optimizer, tc: DictConfig, frozen_until: int = 0, slow_scale: float = 1.0):
    """Warmup + cosine for every group; groups marked ``slow`` get learning rate 0 before ``frozen_until`` and
    ``slow_scale`` times the schedule from then on."""
    base = lr_lambda(tc.warmup_steps, tc.max_steps, tc.min_lr_ratio)

    def slow(step: int) -> float:
        return 0.0 if step < frozen_until else slow_scale * base(step)

    fns = [slow if g.get("slow") else base for g in optimizer.param_groups]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fns)


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


class _GracefulStop:
    """SIGINT/SIGTERM set a flag; the loop finishes its step, checkpoints and exits.

    ``requested`` turns true only at an optimiser-step boundary (``accelerator.sync_gradients``): a signal that
    arrives during a gradient-accumulation micro-batch lets the loop finish the whole step first, so the
    checkpoint written on exit holds no half-accumulated gradient.
    """

    def __init__(self, accelerator: Accelerator | None = None) -> None:
        self._signalled = False
        self._accelerator = accelerator
        self._old: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self._signalled and (self._accelerator is None or self._accelerator.sync_gradients)

    def __enter__(self) -> "_GracefulStop":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self._signalled:  # a second signal: stop now
            raise KeyboardInterrupt
        self._signalled = True

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def train(task: Task, cfg: DictConfig, *, resume: bool = True) -> Path:
    """Run (or resume) a training run described by ``cfg``; returns the export directory."""
    tc = cfg.train
    exp_dir = Path(cfg.exp_dir)
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(),  # else several CPU processes each believe they are alone
        mixed_precision=tc.mixed_precision,
        gradient_accumulation_steps=tc.grad_accum,
        log_with="tensorboard",
        project_dir=str(exp_dir),
    )
    is_main = accelerator.is_main_process
    logging.basicConfig(level=logging.INFO if is_main else logging.WARNING, format="%(message)s")
    ckpt_root = exp_dir / "checkpoints"
    if is_main:
        exp_dir.mkdir(parents=True, exist_ok=True)
        ckpt.clean_stale_tmp(ckpt_root)
        save_config(cfg, exp_dir / "config.yaml")
    accelerator.wait_for_everyone()
    set_seed(tc.seed)

    model = task.build_model()
    slow_prefix, frozen_until, slow_scale = task.slow_params or (None, 0, 1.0)
    optimizer = torch.optim.AdamW(
        param_groups(model, tc.weight_decay, slow_prefix), lr=tc.lr, betas=tuple(tc.betas)
    )
    scheduler = make_scheduler(optimizer, tc, frozen_until, slow_scale)
    state = TrainState()
    if resume:
        state = _resume(model, optimizer, scheduler, ckpt_root, cfg) or state
    elif is_main and ckpt.list_checkpoints(ckpt_root):
        log.info("--no-resume: starting from step 0; existing checkpoints will be replaced as new ones are written")
    # the scheduler stays unprepared: it steps once per optimiser step, whatever the number of processes
    model, optimizer = accelerator.prepare(model, optimizer)
    unwrapped = accelerator.unwrap_model(model)

    from scraps.data import make_dataloader, make_sampler

    dataset = task.dataset()
    train_cuts = load_recipe_cuts(cfg, cfg.data.train_cuts)
    dev_cuts = load_recipe_cuts(cfg, cfg.data.dev_cuts)
    sampler = make_sampler(
        train_cuts, batch_size=tc.batch_size, max_duration=tc.max_duration, shuffle=True, seed=tc.seed,
        world_size=accelerator.num_processes, rank=accelerator.process_index, num_buckets=tc.num_buckets,
        drop_last=True,
    )
    accelerator.init_trackers("tb")
    if is_main:
        log.info(
            f"training {type(unwrapped).__name__} ({sum(p.numel() for p in unwrapped.parameters()) / 1e6:.2f} M "
            f"params) on {len(train_cuts)} utterances, {accelerator.num_processes} process(es), "
            f"device {accelerator.device}, from step {state.step} to {tc.max_steps}"
        )

    def dev_batches() -> Iterator[dict]:
        dev_sampler = make_sampler(dev_cuts, batch_size=tc.batch_size, shuffle=False, seed=0, num_buckets=1)
        for b in make_dataloader(dataset, dev_sampler, num_workers=0):
            yield _to_device(b, accelerator.device)

    bar = progress(total=tc.max_steps, initial=state.step, disable=not is_main, desc="train", unit="step")
    window = {"t0": time.perf_counter(), "utts": 0, "audio_s": 0.0}
    pending = 0.0  # seconds of micro-batches since the last optimiser step
    try:
        with _GracefulStop(accelerator) as stop:
            while state.step < tc.max_steps and not stop.requested:
                skip = state.batches_in_epoch
                batches = iter(make_dataloader(
                    dataset, _ReplaySampler(sampler, state.epoch, skip), num_workers=cfg.data.num_workers
                ))
                consumed = 0
                while state.step < tc.max_steps and not stop.requested:
                    tick = time.perf_counter()
                    batch = _next_on_all_ranks(batches, accelerator)
                    if batch is None:  # some process ran out of data: the epoch ends for all
                        break
                    consumed += 1
                    state.batches_in_epoch += 1
                    stepped = _train_step(task, model, batch, state, accelerator, optimizer, scheduler, unwrapped, tc)
                    pending += time.perf_counter() - tick
                    if stepped:
                        state.train_seconds += pending
                        pending = 0.0
                        _after_step(task, unwrapped, batch, state, accelerator, scheduler, tc, window, bar)
                        if state.step % tc.val_every == 0 or state.step == tc.max_steps:
                            _validate(task, unwrapped, dev_batches, state, accelerator, exp_dir)
                        if state.step % tc.ckpt_every == 0 or state.step == tc.max_steps or stop.requested:
                            _save(accelerator, unwrapped, optimizer, scheduler, state, cfg, ckpt_root)
                else:
                    continue  # max_steps reached or stop requested
                if consumed == 0 and skip == 0:
                    raise ValueError(
                        f"the training set gives no batch (train.batch_size={tc.batch_size} with "
                        f"{len(train_cuts)} utterances over {accelerator.num_processes} process(es)); "
                        f"lower train.batch_size or add data"
                    )
                state.epoch += 1
                state.batches_in_epoch = 0
    finally:
        bar.close()  # so that an error line is not printed on the bar's line
    if stop.requested:
        if not _has_checkpoint_of(state, ckpt_root):  # the signal came after this step's checkpoint check
            _save(accelerator, unwrapped, optimizer, scheduler, state, cfg, ckpt_root)
        last = ckpt.list_checkpoints(ckpt_root)
        where = last[0] if last else ckpt_root
        if is_main:
            print(f"stopped by signal at step {state.step}; checkpoint saved to {where}; rerun the same command to resume")
        accelerator.end_training()
        sys.exit(0)
    export_dir = exp_dir / "export"
    if is_main:
        task.export(unwrapped, export_dir, OmegaConf.to_container(cfg, resolve=True))
        log.info(f"exported model to {export_dir}")
    accelerator.wait_for_everyone()
    accelerator.end_training()  # closes the trackers and the process group: last
    return export_dir


def _next_on_all_ranks(batches: Iterator[dict], accelerator: Accelerator) -> dict | None:
    """Next batch, or None for every process as soon as any process has run out."""
    batch = next(batches, None)
    if accelerator.num_processes > 1:
        have = torch.tensor([0.0 if batch is None else 1.0], device=accelerator.device)
        if accelerator.reduce(have, reduction="sum").item() < accelerator.num_processes:
            return None
    return None if batch is None else _to_device(batch, accelerator.device)


def _train_step(task: Task, model: nn.Module, batch: dict, state: TrainState, accelerator: Accelerator,
                optimizer, scheduler, unwrapped: nn.Module, tc: DictConfig) -> bool:
    """Forward, NaN guard, backward, clip, optimiser step. True when an optimiser step was taken."""
    # Every random draw of a step (dropout, augmentation) is a pure function of (seed, step, rank), so a resumed
    # run repeats the uninterrupted one exactly, whatever else consumed random numbers before.
    step_seed = (tc.seed * 1_000_003 + state.step) * 1009 + accelerator.process_index
    torch.manual_seed(step_seed)
    gen = torch.Generator(device=accelerator.device)
    gen.manual_seed(step_seed)
    with accelerator.accumulate(model):
        with accelerator.autocast():
            loss, stats = task.training_step(model, batch, state.step, gen)
        finite = torch.isfinite(loss.detach()).float().reshape(1)
        if accelerator.num_processes > 1:
            finite = accelerator.reduce(finite, reduction="sum") / accelerator.num_processes
        if finite.item() < 1.0:
            optimizer.zero_grad(set_to_none=True)
            state.nan_skipped += 1
            state.nan_in_a_row += 1
            log.warning(f"step {state.step}: non-finite loss, step skipped ({state.nan_skipped} so far)")
            if state.nan_in_a_row >= tc.max_nan_in_a_row:
                raise TrainingStopped(
                    f"{state.nan_in_a_row} non-finite losses in a row at step {state.step}: the run diverged; "
                    f"lower train.lr or check the data, then rerun (it resumes from the last checkpoint)"
                )
            return False
        accelerator.backward(loss)
        state.last = {"loss": float(loss.detach()), **{k: float(v) for k, v in stats.items()}}
        if accelerator.sync_gradients:
            state.last["grad_norm"] = float(accelerator.clip_grad_norm_(model.parameters(), tc.grad_clip))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if not accelerator.sync_gradients:
        return False
    scheduler.step()
    task.after_optimizer_step(unwrapped)
    return True


def _after_step(task: Task, unwrapped: nn.Module, batch: dict, state: TrainState, accelerator: Accelerator,
                scheduler, tc: DictConfig, window: dict, bar: Any) -> None:
    state.step += 1
    state.nan_in_a_row = 0
    bar.update(1)
    window["utts"] += len(batch["ids"])
    window["audio_s"] += float(batch["audio_lens"].sum()) / SAMPLE_RATE
    if state.step % tc.log_every == 0 or state.step == tc.max_steps:
        dt = time.perf_counter() - window["t0"]
        n = accelerator.num_processes
        logs = {f"train/{k}": v for k, v in state.last.items()}
        logs["train/lr"] = scheduler.get_last_lr()[0]
        logs["train/utts_per_s"] = window["utts"] * n / dt
        logs["train/audio_s_per_s"] = window["audio_s"] * n / dt
        accelerator.log(logs, step=state.step)
        bar.set_postfix(loss=f"{state.last['loss']:.3f}")
        window.update(t0=time.perf_counter(), utts=0, audio_s=0.0)


def _validate(task: Task, model: nn.Module, dev_batches, state: TrainState, accelerator: Accelerator,
              exp_dir: Path) -> None:
    if accelerator.is_main_process:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            metrics = task.validate(model, dev_batches(), state.step, exp_dir)
        model.train(was_training)
        accelerator.log({f"val/{k}": v for k, v in metrics.items()}, step=state.step)
        if task.val_images:
            writer = accelerator.get_tracker("tensorboard", unwrap=True)
            for tag, img in task.val_images.items():
                writer.add_image(tag, img, state.step, dataformats="HWC")
        shown = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items())
        tqdm.write(f"step {state.step}: {shown}")
        with open(exp_dir / "validation.jsonl", "a") as f:
            f.write(json.dumps({"step": state.step, "train_seconds": round(state.train_seconds, 2), **metrics}) + "\n")
    accelerator.wait_for_everyone()


def _save(accelerator: Accelerator, model: nn.Module, optimizer, scheduler, state: TrainState,
          cfg: DictConfig, ckpt_root: Path) -> None:
    tmp = ckpt.tmp_dir(ckpt_root, state.step)
    final = ckpt.step_dir(ckpt_root, state.step)
    try:
        if accelerator.is_main_process:
            ckpt.write_main_files(
                tmp,
                model.state_dict(),
                optimizer.state_dict(),
                scheduler.state_dict(),
                state.__dict__,
                OmegaConf.to_yaml(cfg, resolve=True),
            )
            ckpt.publish(tmp, final, cfg.train.keep_last)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ckpt.CheckpointError(ckpt.describe_write_error(exc, final, ckpt_root)) from None
    accelerator.wait_for_everyone()


def _has_checkpoint_of(state: TrainState, ckpt_root: Path) -> bool:
    """Whether the newest checkpoint holds exactly ``state`` (same step and data position)."""
    last = ckpt.list_checkpoints(ckpt_root)
    if not last or last[0] != ckpt.step_dir(ckpt_root, state.step):
        return False
    try:
        return json.loads((last[0] / "trainer_state.json").read_text()) == json.loads(json.dumps(state.__dict__))
    except (OSError, ValueError):
        return False


def _resume(
    model: nn.Module, optimizer, scheduler, ckpt_root: Path, cfg: DictConfig | None = None
) -> TrainState | None:
    """Load the newest checkpoint that is whole and fits the model; skip (with a warning) the others.

    Every check runs before anything is loaded, so a damaged checkpoint never leaves the model half-loaded.
    When checkpoints exist but none can be resumed (e.g. the model config changed), the run stops with
    CheckpointError instead of silently starting over next to them. A resumed checkpoint written with another
    config (e.g. a new ``train.max_steps``, which reshapes the schedule) is named in one warning line.
    """
    skipped = []
    for path in ckpt.list_checkpoints(ckpt_root):
        try:
            data = ckpt.load_checkpoint(path)
            ckpt.check_fits(model.state_dict(), scheduler.state_dict(), data, path)
            state = TrainState(**data["trainer"])
            optimizer.load_state_dict(data["optimizer"])  # validates the groups before changing anything
        except (ckpt.CheckpointError, TypeError, ValueError, KeyError, RuntimeError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.warning(f"skipping damaged checkpoint {path.name}: {reason}")
            skipped.append(f"{path.name}: {reason}")
            continue
        model.load_state_dict(data["model"])
        scheduler.load_state_dict(data["scheduler"])
        log.info(f"resuming from {path} (step {state.step})")
        saved_config = path / "config.yaml"
        if cfg is not None and saved_config.is_file():
            # paths are compared absolute; a relative one in a saved config is read from the current directory
            old, new = (resolve_paths(OmegaConf.to_container(c, resolve=True), path_keys(cfg), Path.cwd())
                        for c in (OmegaConf.load(saved_config), cfg))
            changes = [c for c in config_changes(old, new) if not c.startswith("exp_dir:")]  # a moved run is fine
            if changes:
                log.warning(
                    f"resuming from step {state.step} of a run with another config ({'; '.join(changes[:4])}"
                    f"{'; ...' if len(changes) > 4 else ''}); rerun with --no-resume to start over with this one"
                )
        return state
    if skipped:
        raise ckpt.CheckpointError(
            f"none of the {len(skipped)} checkpoint(s) in {ckpt_root} can be resumed (newest: {skipped[0]}); "
            f"restore the config or files they were written with, or rerun with --no-resume to start over"
        )
    return None
