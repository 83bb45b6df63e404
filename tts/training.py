"""Stage 2: training the TTS model as a :class:`~scraps.training.loop.Task` (same loop as SCRAPS)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from omegaconf import DictConfig  # noqa: E402
from torch import nn  # noqa: E402

from scraps.audio import MelSpectrogram, num_frames  # noqa: E402
from scraps.nn.config import EncoderConfig  # noqa: E402
from scraps.training.config import PATH, DataConfig, TrainConfig  # noqa: E402
from scraps.training.scraps_task import frontend_for_data  # noqa: E402
from tts.decoder import DecoderConfig  # noqa: E402
from tts.loss import focus_rate, guided_attention_weight, tts_loss  # noqa: E402
from tts.model import TTSConfig, TTSModel  # noqa: E402


@dataclass
class TTSModelSection:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    speaker_dim: int = 64


@dataclass
class TTSLossConfig:
    stop_pos_weight: float = 5.0
    guided_weight: float = 1.0
    guided_sigma: float = 0.2
    guided_fade_start: int = 10_000
    guided_fade_end: int = 30_000


@dataclass
class ValidationConfig:
    focus_threshold: float = 0.5      # attention counts as diagonal/sharp above this focus rate
    free_running: int = 8             # dev utterances synthesised without teacher forcing at each validation
    max_len_ratio: float = 12.0       # cap on free-running frames per phoneme
    # SCRAPS export that scores free-running outputs (same phoneme vocab)
    scraps_scorer: Optional[str] = field(default=None, metadata=PATH)
    plots: bool = True


@dataclass
class TTSRecipeConfig:
    exp_dir: str = field(default="exp/tts", metadata=PATH)
    # SCRAPS export whose phonetic encoder initialises ours
    init_from_scraps: Optional[str] = field(default=None, metadata=PATH)
    freeze_encoder_steps: int = 0            # keep the copied encoder frozen for the first N steps
    data: DataConfig = field(default_factory=DataConfig)
    model: TTSModelSection = field(default_factory=TTSModelSection)
    loss: TTSLossConfig = field(default_factory=TTSLossConfig)
    val: ValidationConfig = field(default_factory=ValidationConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


class TTSTask:
    """Teacher-forced mel + stop + guided-attention training; validation of loss, focus rate, SCRAPS score."""

    def __init__(self, cfg: DictConfig) -> None:
        from scraps.data import speaker_map_from_cuts
        from scraps.training.loop import load_cuts

        self.cfg = cfg
        self.frontend = frontend_for_data(cfg.data.dir)
        self.vocab = self.frontend.vocab
        self.speaker_map = speaker_map_from_cuts(load_cuts(cfg, cfg.data.train_cuts))
        self.mel = MelSpectrogram()
        self.model: TTSModel | None = None
        self.copied: list[str] = []
        self.scorer = None
        self.val_images: dict[str, object] = {}
        if cfg.init_from_scraps is None and cfg.freeze_encoder_steps > 0:
            raise ValueError("freeze_encoder_steps > 0 needs --init-from-scraps (a random encoder would stay random)")

    # the loop keeps the parameters under this prefix frozen (learning rate 0) until this step
    @property
    def frozen(self) -> tuple[str, int] | None:
        return ("phonetic_encoder.", self.cfg.freeze_encoder_steps) if self.cfg.freeze_encoder_steps else None

    def build_model(self) -> TTSModel:
        m = self.cfg.model
        self.model = TTSModel(TTSConfig(
            vocab_size=len(self.vocab),
            encoder=EncoderConfig(**m.encoder),
            decoder=DecoderConfig(**m.decoder),
            n_speakers=len(self.speaker_map),
            speaker_dim=m.speaker_dim,
        ))
        if self.cfg.init_from_scraps:
            self.copied = self.model.init_encoder_from_scraps(self.cfg.init_from_scraps, self.vocab)
            print(f"initialised the phonetic encoder from {self.cfg.init_from_scraps}: copied {len(self.copied)} "
                  f"tensors ({sum(self.model.state_dict()[k].numel() for k in self.copied) / 1e6:.2f} M values)")
        return self.model

    def dataset(self):
        from scraps.data import SpeechDataset

        return SpeechDataset(self.vocab, self.speaker_map)

    def _mels(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mel.to(batch["audio"].device).batch(batch["audio"], batch["audio_lens"])

    def teacher_forced_loss(self, model: nn.Module, batch: dict, guided_weight: float):
        """The training objective on ``batch`` (the validation loss with ``guided_weight`` 0):
        (loss, stats, model outputs, mel (b, 100, t), mel_lens (b,))."""
        mel, mel_lens = self._mels(batch)
        out = model(batch["phonemes"], batch["phoneme_lens"], batch["speakers"], mel, mel_lens)
        lc = self.cfg.loss
        loss, stats = tts_loss(
            out, out["target_norm"], mel_lens, batch["phoneme_lens"], reduction=self.model.decoder.reduction,
            stop_pos_weight=lc.stop_pos_weight, guided_weight=guided_weight, guided_sigma=lc.guided_sigma,
        )
        return loss, stats, out, mel, mel_lens

    def training_step(self, model: nn.Module, batch: dict, step: int, generator: torch.Generator):
        lc = self.cfg.loss
        w = guided_attention_weight(step, lc.guided_weight, lc.guided_fade_start, lc.guided_fade_end)
        loss, stats, _, _, _ = self.teacher_forced_loss(model, batch, w)
        return loss, {k: float(v) for k, v in stats.items()}

    def after_optimizer_step(self, model: nn.Module) -> None:
        pass

    def validate(self, model: TTSModel, batches: Iterable[dict], step: int, out_dir: Path) -> dict[str, float]:
        totals: dict[str, float] = {}
        n = 0
        focus_sum = 0.0
        first = None
        for b in batches:
            loss, stats, out, mel, mel_lens = self.teacher_forced_loss(model, b, 0.0)
            k = len(b["ids"])
            for name, v in stats.items():
                if name not in ("guided", "loss"):
                    totals[name] = totals.get(name, 0.0) + float(v) * k
            totals["loss"] = totals.get("loss", 0.0) + float(loss) * k
            focus_sum += focus_rate(out["attn"], mel_lens, b["phoneme_lens"], model.decoder.reduction) * k
            n += k
            if first is None:
                first = (b, out, mel, mel_lens)
        metrics = {name: v / n for name, v in totals.items()}
        metrics["focus_rate"] = focus_sum / n
        metrics["aligned"] = float(metrics["focus_rate"] >= self.cfg.val.focus_threshold)
        if first is not None and self.cfg.val.free_running > 0:
            metrics.update(self._free_running(model, first[0]))
        if first is not None and self.cfg.val.plots:
            self._plots(first[1], first[2], first[3], first[0], out_dir / "plots", step)
        return metrics

    def _free_running(self, model: TTSModel, batch: dict) -> dict[str, float]:
        k = min(self.cfg.val.free_running, len(batch["ids"]))
        ids, id_lens, spk = batch["phonemes"][:k], batch["phoneme_lens"][:k], batch["speakers"][:k]
        caps = (id_lens.float() * self.cfg.val.max_len_ratio).long().clamp(min=8)
        mel, lens, hit_cap = model.generate(ids, id_lens, spk, max_frames=caps)
        true = num_frames(batch["audio_lens"][:k]).float()
        out = {
            "free_len_ratio": float((lens.float() / true).mean()),
            "free_hit_cap": float(hit_cap.float().mean()),
        }
        if self.cfg.val.scraps_scorer:
            if self.scorer is None:
                from scraps.model import ScrapsModel

                self.scorer = ScrapsModel.from_pretrained(self.cfg.val.scraps_scorer).to(ids.device)
            out["scraps_score"] = float(self.scorer.score_mels(ids, id_lens, mel, lens).mean())
        return out

    def _plots(self, out: dict, mel: torch.Tensor, mel_lens: torch.Tensor, batch: dict, plot_dir: Path,
               step: int) -> None:
        plot_dir.mkdir(parents=True, exist_ok=True)
        t = int(mel_lens[0])
        n = int(batch["phoneme_lens"][0])
        attn = out["attn"][-1][0].mean(dim=0)[: -(-t // self.model.decoder.reduction), :n].cpu()
        fig, axes = plt.subplots(1, 3, figsize=(15, 3.5))
        axes[0].imshow(attn.T, origin="lower", aspect="auto", interpolation="none")
        axes[0].set(title=f"cross-attention (last layer), step {step}", xlabel="decoder step", ylabel="phoneme")
        axes[1].imshow(mel[0, :, :t].cpu(), origin="lower", aspect="auto", interpolation="none")
        axes[1].set(title="target mel", xlabel="frame")
        axes[2].imshow(out["mel"][0, :, :t].float().cpu(), origin="lower", aspect="auto", interpolation="none")
        axes[2].set(title="predicted mel (teacher forced)", xlabel="frame")
        fig.tight_layout()
        fig.canvas.draw()
        self.val_images = {"val/attention_and_mels": _figure_to_array(fig)}
        fig.savefig(plot_dir / f"step-{step:08d}.png", dpi=80)
        plt.close(fig)

    def export(self, model: TTSModel, out_dir: Path, config: dict) -> None:
        speakers = sorted(self.speaker_map, key=self.speaker_map.get)
        model.save_pretrained(out_dir, self.vocab, speakers, frontend_config=self.frontend.config(),
                              train_config=config)


def _figure_to_array(fig) -> object:
    import numpy as np

    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
