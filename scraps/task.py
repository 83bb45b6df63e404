"""Stage 1, SCRAPS contrastive pretraining: its recipe config and its :class:`~scraps.training.loop.Task`."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import torch
from omegaconf import DictConfig
from torch import nn

from scraps.audio import MelSpectrogram
from scraps.audio.augment import WaveAugment
from scraps.data.prepare import frontend_for_data
from scraps.evaluation.metrics import retrieval_metrics
from scraps.loss import contrastive_loss
from scraps.model import ScrapsConfig, ScrapsModel
from scraps.text import PhonemeVocab
from scraps.training.config import PATH, DataConfig, TrainConfig, model_config, model_section


# model: every field of ScrapsConfig but vocab_size, which comes from the data's phoneme vocabulary
ScrapsModelSection = model_section("ScrapsModelSection", ScrapsConfig, derived=("vocab_size",), module=__name__)


@dataclass
class AugmentConfig:
    enabled: bool = True
    prob: float = 0.8
    # the noise probability rises linearly from 0 to prob over the first warmup_steps steps (0: prob from the start)
    warmup_steps: int = 0
    snr_db: list[float] = field(default_factory=lambda: [0.0, 30.0])
    gain_db: list[float] = field(default_factory=lambda: [-6.0, 6.0])
    colors: list[str] = field(default_factory=lambda: ["white", "pink", "brown"])
    noise_files: Optional[list[str]] = field(default=None, metadata=PATH)


@dataclass
class ScrapsRecipeConfig:
    exp_dir: str = field(default="exp/scraps", metadata=PATH)
    data: DataConfig = field(default_factory=DataConfig)
    model: ScrapsModelSection = field(default_factory=ScrapsModelSection)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


class ScrapsTask:
    """Builds the model, computes the symmetric contrastive loss, validates retrieval, exports.

    The log-mels the model reads are computed here, from the batch's waveforms after augmentation."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.frontend = frontend_for_data(cfg.data.dir)
        self.vocab: PhonemeVocab = self.frontend.vocab
        a = cfg.augment
        self.augment = (
            WaveAugment(snr_db=tuple(a.snr_db), prob=a.prob, colors=tuple(a.colors), gain_db=tuple(a.gain_db),
                        noise_files=list(a.noise_files) if a.noise_files else None)
            if a.enabled else None
        )
        self.mel = MelSpectrogram()
        self.model: ScrapsModel | None = None
        self.slow_params: tuple[str, int, float] | None = None  # every parameter follows the schedule
        self.val_images: dict[str, Any] = {}  # no images at validation

    def build_model(self) -> ScrapsModel:
        self.model = ScrapsModel(model_config(ScrapsConfig, self.cfg.model, vocab_size=len(self.vocab)))
        return self.model

    def dataset(self):
        from scraps.data import SpeechDataset

        return SpeechDataset(self.vocab)

    def _mels(self, wav: torch.Tensor, wav_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mel.to(wav.device).batch(wav, wav_lens)

    def training_step(self, model: nn.Module, batch: dict, step: int, generator: torch.Generator):
        wav, lens = batch["audio"], batch["audio_lens"]
        if self.augment is not None:
            warmup = self.cfg.augment.warmup_steps
            prob = self.augment.prob * min(1.0, step / warmup) if warmup > 0 else None
            wav = self.augment.to(wav.device)(wav, lens, generator=generator, prob=prob)
        e_p, e_a = model(batch["phonemes"], batch["phoneme_lens"], *self._mels(wav, lens))
        return contrastive_loss(e_p, e_a, self.model.logit_scale, batch["phoneme_strings"])

    def after_optimizer_step(self, model: ScrapsModel) -> None:
        model.clamp_logit_scale_()

    def validate(self, model: ScrapsModel, batches: Iterable[dict], step: int, out_dir: Path) -> dict[str, float]:
        e_p, e_a, keys = [], [], []
        for b in batches:
            p, a = model(b["phonemes"], b["phoneme_lens"], *self._mels(b["audio"], b["audio_lens"]))
            e_p.append(p)
            e_a.append(a)
            keys += b["phoneme_strings"]
        e_p, e_a = torch.cat(e_p), torch.cat(e_a)
        loss, stats = contrastive_loss(e_p, e_a, model.logit_scale, keys, gather=False)  # main process only
        r = retrieval_metrics(e_p, e_a)
        return {
            "loss": float(loss), "r1_p2a": r["p2a"]["r1"], "r1_a2p": r["a2p"]["r1"],
            "r5_p2a": r["p2a"]["r5"], "pos_cos": stats["pos_cos"], "neg_cos": stats["neg_cos"],
        }

    def export(self, model: ScrapsModel, out_dir: Path, config: dict) -> None:
        model.save_pretrained(out_dir, self.vocab, frontend_config=self.frontend.config(), train_config=config)
