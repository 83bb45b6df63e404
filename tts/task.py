"""Stage 2, TTS training: its recipe config and its :class:`~scraps.training.loop.Task` (the loop SCRAPS uses)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import torch
from omegaconf import DictConfig
from torch import nn

from scraps.audio import MelSpectrogram
from scraps.data.prepare import frontend_for_data
from scraps.training.config import PATH, DataConfig, TrainConfig, model_config, model_section
from tts.alignment import hard_alignment_focus
from tts.loss import prior_sigma, tts_loss
from tts.model import TTSConfig, TTSModel


# model: every field of TTSConfig but those set by the task: vocab_size and n_speakers (from the data), n_mels (the mel)
TTSModelSection = model_section("TTSModelSection", TTSConfig, derived=("vocab_size", "n_speakers", "n_mels"),
                                module=__name__)


@dataclass
class TTSLossConfig:
    align_weight: float = 1.0          # the aligner's forward-sum loss
    duration_weight: float = 1.0       # the duration predictor's squared error in log frames
    prior_sigma_start: float = 0.2     # width of the aligner's diagonal prior (fraction of the utterance) ...
    prior_sigma_end: float = 1.0       # ... widening to this between the two steps below
    prior_fade_start: int = 500
    prior_fade_end: int = 2000
    self_feed: float = 0.0             # scheduled sampling: share of decoder inputs taken from its own predictions


@dataclass
class ValidationConfig:
    focus_threshold: float = 0.5      # the aligner counts as sharp above this focus rate
    free_running: int = 8             # dev utterances synthesised without teacher forcing at each validation
    max_len_ratio: float = 15.0       # cap on free-running frames per phoneme
    # SCRAPS export that scores free-running outputs (same phoneme vocab)
    scraps_scorer: Optional[str] = field(default=None, metadata=PATH)
    mcd: bool = True                  # MCD-DTW of the free-running outputs against their recordings
    plots: bool = True


@dataclass
class TTSRecipeConfig:
    exp_dir: str = field(default="exp/tts", metadata=PATH)
    # SCRAPS export whose phonetic encoder initialises ours
    init_from_scraps: Optional[str] = field(default=None, metadata=PATH)
    freeze_encoder_steps: int = 0            # keep the copied encoder frozen for the first N steps
    encoder_lr_scale: float = 1.0            # then train it at this fraction of the learning rate
    data: DataConfig = field(default_factory=DataConfig)
    model: TTSModelSection = field(default_factory=TTSModelSection)
    loss: TTSLossConfig = field(default_factory=TTSLossConfig)
    val: ValidationConfig = field(default_factory=ValidationConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


class TTSTask:
    """Teacher-forced mel + alignment + duration training; validation of the loss, the aligner's focus rate and
    the free-running output (length, MCD-DTW, SCRAPS score and retrieval)."""

    def __init__(self, cfg: DictConfig) -> None:
        from scraps.data import speaker_map_from_cuts
        from scraps.training.loop import load_recipe_cuts

        self.cfg = cfg
        self.frontend = frontend_for_data(cfg.data.dir)
        self.vocab = self.frontend.vocab
        train_cuts = load_recipe_cuts(cfg, cfg.data.train_cuts)
        self.speaker_map = speaker_map_from_cuts(train_cuts)
        # candidate sentences of the SCRAPS retrieval during validation: every training and dev sentence
        self._pool_phonemes = [c.supervisions[0].custom["phonemes"] for c in train_cuts]
        self.mel = MelSpectrogram()
        self.model: TTSModel | None = None
        self.copied: list[str] = []
        self.judge = None
        self.val_images: dict[str, object] = {}
        if cfg.init_from_scraps is None and (cfg.freeze_encoder_steps > 0 or cfg.encoder_lr_scale != 1.0):
            raise ValueError("freeze_encoder_steps and encoder_lr_scale need --init-from-scraps (they slow the copied "
                             "encoder; a random one would stay random)")
        if cfg.encoder_lr_scale < 0:
            raise ValueError(f"encoder_lr_scale={cfg.encoder_lr_scale}: must be >= 0")

    # the loop holds the encoder at learning rate 0 until the step, then trains it at the scaled rate
    @property
    def slow_params(self) -> tuple[str, int, float] | None:
        if self.cfg.freeze_encoder_steps == 0 and self.cfg.encoder_lr_scale == 1.0:
            return None
        return "phonetic_encoder.", self.cfg.freeze_encoder_steps, self.cfg.encoder_lr_scale

    def build_model(self) -> TTSModel:
        self.model = TTSModel(model_config(TTSConfig, self.cfg.model, vocab_size=len(self.vocab),
                                           n_speakers=len(self.speaker_map)))
        if self.cfg.init_from_scraps:
            self.copied = self.model.init_encoder_from_scraps(self.cfg.init_from_scraps, self.vocab)
            print(f"initialised the phonetic encoder from {self.cfg.init_from_scraps}: copied {len(self.copied)} "
                  f"tensors ({sum(self.model.state_dict()[k].numel() for k in self.copied) / 1e6:.2f} M values)")
        return self.model

    def dataset(self):
        from scraps.data import SpeechDataset

        return SpeechDataset(self.vocab, self.speaker_map)

    def _mels(self, wav: torch.Tensor, wav_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mel.to(wav.device).batch(wav, wav_lens)

    def prior_sigma(self, step: int) -> float:
        lc = self.cfg.loss
        return prior_sigma(step, lc.prior_sigma_start, lc.prior_sigma_end, lc.prior_fade_start, lc.prior_fade_end)

    def teacher_forced_loss(self, model: nn.Module, batch: dict, step: int):
        """The training objective on ``batch`` at ``step`` (which sets the aligner's prior):
        (loss, stats, model outputs, mel (b, 100, t), mel_lens (b,))."""
        mel, mel_lens = self._mels(batch["audio"], batch["audio_lens"])
        out = model(batch["phonemes"], batch["phoneme_lens"], batch["speakers"], mel, mel_lens,
                    prior_sigma=self.prior_sigma(step), self_feed=self.cfg.loss.self_feed if model.training else 0.0)
        lc = self.cfg.loss
        loss, stats = tts_loss(out, mel_lens, batch["phoneme_lens"], align_weight=lc.align_weight,
                               duration_weight=lc.duration_weight)  # fmt: skip
        return loss, stats, out, mel, mel_lens

    def training_step(self, model: nn.Module, batch: dict, step: int, generator: torch.Generator):
        loss, stats, _, _, _ = self.teacher_forced_loss(model, batch, step)
        return loss, {k: float(v) for k, v in stats.items()}

    def after_optimizer_step(self, model: nn.Module) -> None:
        pass

    def validate(self, model: TTSModel, batches: Iterable[dict], step: int, out_dir: Path) -> dict[str, float]:
        totals: dict[str, float] = {}
        free_totals: dict[str, float] = {}
        n = free_n = 0
        focus_sum = 0.0
        first = free_first = None
        for b in batches:
            loss, stats, out, mel, mel_lens = self.teacher_forced_loss(model, b, step)
            k = len(b["ids"])
            for name, v in stats.items():
                totals[name] = totals.get(name, 0.0) + float(v) * k
            focus_sum += hard_alignment_focus(out["align_log_p"], mel_lens) * k
            n += k
            if first is None:
                first = (b, out, mel, mel_lens)
            take = min(k, self.cfg.val.free_running - free_n)
            if take > 0:  # the first val.free_running dev utterances, synthesised free-running
                free_metrics, free_mel, free_lens = self._free_running(model, b, mel, mel_lens, take)
                for name, v in free_metrics.items():
                    free_totals[name] = free_totals.get(name, 0.0) + v * take
                free_n += take
                free_first = free_first or (free_mel, free_lens)
        metrics = {name: v / n for name, v in totals.items()}
        metrics["focus_rate"] = focus_sum / n
        metrics["aligned"] = float(metrics["focus_rate"] >= self.cfg.val.focus_threshold)
        metrics.update({name: v / free_n for name, v in free_totals.items()})
        if first is not None and self.cfg.val.plots:
            self._plots(first[1], first[2], first[3], first[0], free_first, out_dir / "plots", step)
        return metrics

    def _free_running(self, model: TTSModel, batch: dict, mel: torch.Tensor, mel_lens: torch.Tensor, k: int):
        from tts.evaluation import ScrapsJudge, free_running_metrics
        from tts.inference import LengthGuards

        if self.cfg.val.scraps_scorer and self.judge is None:
            from scraps.model import ScrapsModel

            scorer = ScrapsModel.from_pretrained(self.cfg.val.scraps_scorer).to(batch["phonemes"].device)
            pool = [self.vocab.encode(p.split(" ")) for p in self._pool_phonemes]
            self.judge = ScrapsJudge(scorer, pool)
        return free_running_metrics(
            model, batch["phonemes"][:k], batch["phoneme_lens"][:k], batch["speakers"][:k], mel[:k], mel_lens[:k],
            judge=self.judge, guards=LengthGuards(max_len_ratio=self.cfg.val.max_len_ratio), mcd=self.cfg.val.mcd,
        )

    def _plots(self, out: dict, mel: torch.Tensor, mel_lens: torch.Tensor, batch: dict, free, plot_dir: Path,
               step: int) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        plot_dir.mkdir(parents=True, exist_ok=True)
        t = int(mel_lens[0])
        n = int(batch["phoneme_lens"][0])
        soft = out["align_log_p"][0, :t, :n].float().exp().cpu()
        bounds = out["durations"][0, :n].cumsum(0).cpu()
        panels = 4 if free is not None else 3
        fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.5))
        axes[0].imshow(soft.T, origin="lower", aspect="auto", interpolation="none")
        axes[0].step(bounds, torch.arange(n), where="post", color="w", linewidth=0.8)
        axes[0].set(title=f"aligner p(phoneme | frame) + path, step {step}", xlabel="frame", ylabel="phoneme")
        axes[1].imshow(mel[0, :, :t].cpu(), origin="lower", aspect="auto", interpolation="none")
        axes[1].set(title="target mel", xlabel="frame")
        axes[2].imshow(out["mel"][0, :, :t].float().cpu(), origin="lower", aspect="auto", interpolation="none")
        axes[2].set(title="predicted mel (teacher forced)", xlabel="frame")
        if free is not None:
            free_mel, free_lens = free
            axes[3].imshow(free_mel[0, :, : int(free_lens[0])].float().cpu(), origin="lower", aspect="auto",
                           interpolation="none")  # fmt: skip
            axes[3].set(title="free-running mel", xlabel="frame")
        fig.tight_layout()
        fig.canvas.draw()
        self.val_images = {"val/alignment_and_mels": _figure_to_array(fig)}
        fig.savefig(plot_dir / f"step-{step:08d}.png", dpi=80)
        plt.close(fig)

    def export(self, model: TTSModel, out_dir: Path, config: dict) -> None:
        speakers = sorted(self.speaker_map, key=self.speaker_map.get)
        model.save_pretrained(out_dir, self.vocab, speakers, frontend_config=self.frontend.config(),
                              train_config=config)


def _figure_to_array(fig) -> object:
    import numpy as np

    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
