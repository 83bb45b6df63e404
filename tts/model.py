"""TTSModel: the SCRAPS phonetic encoder + a speaker embedding + durations + the autoregressive mel decoder.

Inputs and outputs are Vocos log-mels (b, 100, t) (natural log, floored at 1e-7), so a pretrained Vocos vocodes
them and SCRAPS scores them. Inside, mels are normalised with the fixed affine ``(mel - mel_mean) / mel_std``
from the config (:func:`scraps.audio.normalize_mel`); that happens here and nowhere else in the TTS (the loss reads
``target_norm``).

The decoder speaks each phoneme for a number of frames. In training the durations come from the model's own
:class:`tts.alignment.Aligner` (soft alignment of the target mel to the phonemes, reduced to one monotonic path);
at inference from its :class:`tts.alignment.DurationPredictor`, trained alongside on those durations.

The encoder is the exact :class:`scraps.nn.phonetic_encoder.PhoneticEncoder`, held as ``phonetic_encoder`` so its
tensor names equal a SCRAPS export's and :meth:`TTSModel.init_encoder_from_scraps` can copy them.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from einops import rearrange
from torch import nn

from scraps.audio.features import LOG_CLIP, N_MELS, denormalize_mel, normalize_mel
from scraps.export import ModelDirError, TextInputMixin, load_model_dir, load_weights, save_model_dir
from scraps.nn.config import DictRoundTrip, EncoderConfig
from scraps.nn.layers import lengths_to_padding_mask
from scraps.nn.phonetic_encoder import PhoneticEncoder, check_lengths
from tts.alignment import (
    Aligner,
    DurationPredictor,
    diagonal_log_prior,
    durations_from_log,
    expand_to_frames,
    monotonic_alignment_search,
)
from tts.decoder import ARDecoder, DecoderConfig

if TYPE_CHECKING:
    from scraps.text.vocab import PhonemeVocab

MODEL_TYPE = "tts"
ENCODER_PREFIX = "phonetic_encoder."
# Shape fields of the encoder that must agree with a SCRAPS export (dropout and max_len hold no tensors).
ENCODER_SHAPE_FIELDS = ("dim", "layers", "heads", "ff_mult")
SILENCE = math.log(LOG_CLIP)  # the log-mel of a silent frame; fills generated mels beyond each length


def _per_item(value: int | torch.Tensor, batch: int, name: str, device: torch.device) -> torch.Tensor:
    """An int, or one value per item, -> (b,) long."""
    values = torch.as_tensor(value, device=device, dtype=torch.long)
    if values.ndim > 1 or (values.ndim == 1 and values.shape[0] != batch):
        raise ValueError(f"{name} must be an int or have shape ({batch},), got {tuple(values.shape)}")
    return values.expand(batch)


@dataclass
class TTSConfig(DictRoundTrip):
    """Everything needed to rebuild a :class:`TTSModel` (stored as ``model:`` in an export's config.yaml).

    ``mel_mean`` / ``mel_std`` normalise Vocos log-mels; the defaults are the mean and standard deviation
    (-1.31, 2.05) measured over all bins of 60 LJSpeech clips, rounded. They are fixed constants of the model,
    not trained, and travel with it in config.yaml. ``aligner_dim`` is the size of the aligner's keys,
    ``duration_channels`` the width of the duration predictor.
    """

    vocab_size: int
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    n_speakers: int = 1
    speaker_dim: int = 64
    n_mels: int = N_MELS
    mel_mean: float = -1.3
    mel_std: float = 2.0
    aligner_dim: int = 64
    duration_channels: int = 256

    def __post_init__(self) -> None:
        if self.n_speakers < 1:
            raise ValueError(f"n_speakers must be >= 1, got {self.n_speakers}")
        if self.mel_std <= 0:
            raise ValueError(f"mel_std must be positive, got {self.mel_std}")


class TTSModel(TextInputMixin, nn.Module):
    """Phonemes + speaker -> Vocos log-mel, autoregressively, one phoneme for its duration at a time.

    The phoneme vectors seen by the aligner, the duration predictor and the decoder are
    ``memory_proj(encoder output) + speaker_proj(speaker embedding)``: a linear map of the concatenated
    [phoneme vector; speaker vector], written as two projections so the speaker part is computed once per
    utterance. Expanded to frames, each frame also gets how far into its phoneme it lies and the phoneme's log
    duration (``position_proj``).
    """

    def __init__(self, config: TTSConfig) -> None:
        super().__init__()
        self.config = config
        d = config.decoder.dim
        self.phonetic_encoder = PhoneticEncoder(config.vocab_size, config.encoder)
        self.speaker_embed = nn.Embedding(config.n_speakers, config.speaker_dim)
        self.memory_proj = nn.Linear(config.encoder.dim, d)
        self.speaker_proj = nn.Linear(config.speaker_dim, d, bias=False)
        self.aligner = Aligner(config.n_mels, d, config.aligner_dim)
        self.duration_predictor = DurationPredictor(d, config.duration_channels, dropout=config.decoder.dropout)
        self.position_proj = nn.Linear(2, d)
        self.decoder = ARDecoder(config.n_mels, config.decoder)
        # Filled by from_pretrained (and used by init_encoder_from_scraps when set).
        self.vocab: PhonemeVocab | None = None
        self.speakers: list[str] | None = None
        self.frontend_config: dict[str, Any] | None = None
        self.train_config: dict[str, Any] | None = None

    # ------------------------------------------------------------------------------------------ normalisation
    def normalize(self, mel: torch.Tensor) -> torch.Tensor:
        """Vocos log-mel (any layout) -> the decoder's normalised domain (same layout): :func:`normalize_mel` with
        the config's ``mel_mean`` / ``mel_std``."""
        return normalize_mel(mel, self.config.mel_mean, self.config.mel_std)

    def denormalize(self, mel_norm: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`normalize`."""
        return denormalize_mel(mel_norm, self.config.mel_mean, self.config.mel_std)

    # ------------------------------------------------------------------------------------------------ encoder
    def _check_speakers(self, speakers: torch.Tensor, batch: int) -> None:
        if speakers.shape != (batch,):
            raise ValueError(f"speakers must have shape ({batch},) (one id per item), got {tuple(speakers.shape)}")
        n = self.config.n_speakers
        bad = speakers[(speakers < 0) | (speakers >= n)]
        if bad.numel():
            raise ValueError(
                f"speaker id {int(bad[0])} is out of range: the model has {n} speaker(s), ids 0..{n - 1}; "
                "map speaker names through model.speakers"
            )

    def encode(self, ids: torch.Tensor, id_lens: torch.Tensor, speakers: torch.Tensor) -> torch.Tensor:
        """ids (b, n), id_lens (b,), speakers (b,) -> phoneme vectors with the speaker (b, n, d_dec), 0 at padding."""
        self._check_speakers(speakers, ids.shape[0])
        h = self.memory_proj(self.phonetic_encoder(ids, id_lens))
        h = h + rearrange(self.speaker_proj(self.speaker_embed(speakers)), "b d -> b 1 d")
        return h.masked_fill(lengths_to_padding_mask(id_lens, ids.shape[1])[..., None], 0.0)

    def predict_durations(self, memory: torch.Tensor, id_lens: torch.Tensor) -> torch.Tensor:
        """memory (b, n, d) from :meth:`encode`, id_lens (b,) -> predicted log durations in frames (b, n).

        The predictor reads the phoneme vectors without sending gradient back into them: the encoder learns from
        the mel loss (and the aligner) only.
        """
        return self.duration_predictor(memory.detach(), id_lens)

    def conditioning(self, memory: torch.Tensor, durations: torch.Tensor, t: int) -> torch.Tensor:
        """memory (b, n, d), durations (b, n) long, t frames -> the decoder's per-frame conditioning (b, t, d)."""
        frames, position, log_duration = expand_to_frames(memory, durations, t)
        features = torch.stack([position, log_duration], dim=-1).to(memory.dtype)
        beyond = lengths_to_padding_mask(durations.sum(dim=1), t)[..., None]  # frames past the last phoneme
        return frames + self.position_proj(features).masked_fill(beyond, 0.0)

    # ---------------------------------------------------------------------------------------- teacher forcing
    def forward(
        self,
        ids: torch.Tensor,
        id_lens: torch.Tensor,
        speakers: torch.Tensor,
        mel: torch.Tensor,
        mel_lens: torch.Tensor,
        prior_sigma: float | None = None,
        self_feed: float = 0.0,
    ) -> dict[str, torch.Tensor]:
        """Teacher-forced pass: ids (b, n), id_lens (b,), speakers (b,), mel (b, 100, t) log-mel, mel_lens (b,).

        The durations are those of the aligner's best monotonic path through its soft alignment, to which a
        diagonal log prior of width ``prior_sigma`` (a fraction of the utterance; None: no prior) is added.

        Returns ``mel_norm`` / ``mel_post_norm`` (b, 100, t) predictions before / after the postnet and
        ``target_norm`` (b, 100, t), all normalised (what the loss compares); ``mel`` (b, 100, t) the
        post-postnet prediction as a Vocos log-mel; ``align_log_p`` (b, t, n) the aligner's log p(phoneme | frame)
        and ``align_log_p_prior`` (b, t, n) the same with the prior added; ``durations`` (b, n) long, the frames
        given to each phoneme; ``log_duration_pred`` (b, n) the duration predictor's output.

        ``self_feed`` > 0 adds a second decoder pass (scheduled sampling, as in two-pass training of parallel
        decoders): each input frame is, with probability ``self_feed`` (drawn from torch's global generator), the
        first pass's own prediction instead of the target, so that the decoder learns to continue from frames
        like those it makes when it runs free. Its predictions before the postnet (the postnet learns from the first
        pass) are returned as ``mel_norm_fed`` (b, 100, t).
        """
        if mel.ndim != 3 or mel.shape[1] != self.config.n_mels:
            raise ValueError(f"mel must have shape (b, {self.config.n_mels}, t), got {tuple(mel.shape)}")
        check_lengths(mel_lens, mel.shape[2], "TTSModel mel_lens")
        memory = self.encode(ids, id_lens, speakers)
        target_norm = self.normalize(mel)
        frames = rearrange(target_norm, "b c t -> b t c")
        align_log_p = self.aligner(frames, memory, mel_lens, id_lens)
        with_prior = align_log_p
        if prior_sigma is not None:
            with_prior = align_log_p + diagonal_log_prior(id_lens, mel_lens, ids.shape[1], mel.shape[2], prior_sigma)
        durations = monotonic_alignment_search(with_prior, mel_lens, id_lens)
        cond = self.conditioning(memory, durations, mel.shape[2])
        out = self.decoder(frames, cond, mel_lens)
        mel_post_norm = rearrange(out["mel_post"], "b t c -> b c t")
        fed = {}
        if self_feed > 0:
            own = out["mel"].detach()
            pick = torch.rand(own.shape[:2], device=own.device)[..., None] < self_feed
            second = self.decoder.decode(self.decoder.shift_targets(torch.where(pick, own, frames)), cond)
            fed = {"mel_norm_fed": rearrange(second, "b t c -> b c t")}
        return {
            **fed,
            "mel_norm": rearrange(out["mel"], "b t c -> b c t"),
            "mel_post_norm": mel_post_norm,
            "target_norm": target_norm,
            "mel": self.denormalize(mel_post_norm),
            "align_log_p": align_log_p,
            "align_log_p_prior": with_prior,
            "durations": durations,
            "log_duration_pred": self.predict_durations(memory, id_lens),
        }

    # ------------------------------------------------------------------------------------------------ decoding
    @torch.no_grad()
    def generate(
        self,
        ids: torch.Tensor,
        id_lens: torch.Tensor,
        speakers: torch.Tensor,
        *,
        max_frames: int | torch.Tensor,
        pace: float = 1.0,
        durations: torch.Tensor | None = None,
        use_cache: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Autoregressive synthesis of a batch: ids (b, n), id_lens (b,), speakers (b,).

        Each phoneme is spoken for its predicted duration (divided by ``pace``: 1.2 speaks 20 % faster), or for
        the given ``durations`` (b, n) frames. An item's length is the sum of its durations, cut at its cap
        ``max_frames`` (an int, or (b,) per item). ``use_cache=False`` reruns the whole prefix at every step (the
        slow reference for benchmarks); the result is the same when prenet dropout is off.

        Returns mel (b, 100, t) Vocos log-mel (filled with the silent value ``log(1e-7)`` beyond each length),
        lengths (b,) long, and hit_cap (b,) bool (True where the item was cut at its cap).
        """
        b, r, dec, device = ids.shape[0], self.decoder.reduction, self.decoder, ids.device
        caps = _per_item(max_frames, b, "max_frames", device)
        limit = dec.max_steps * r
        if int(caps.min()) < 1 or int(caps.max()) > limit:
            raise ValueError(
                f"max_frames must lie in 1..{limit} (the decoder's max_len {dec.max_steps} steps x reduction {r}), "
                f"got {int(caps.min())}..{int(caps.max())}"
            )
        if not pace > 0:
            raise ValueError(f"pace must be positive, got {pace}")
        if durations is not None and durations.shape != ids.shape:
            raise ValueError(f"durations must have the shape of ids {tuple(ids.shape)}, got {tuple(durations.shape)}")
        if durations is not None and (durations.is_floating_point() or bool((durations < 0).any())):
            raise ValueError(f"durations must be whole numbers of frames >= 0 (an integer tensor), got "
                             f"{durations.dtype} with minimum {durations.min().item()}")
        with torch.inference_mode():  # less bookkeeping per operator than no_grad: it counts at batch 1
            mel, lengths, hit_cap = self._decode(ids, id_lens, speakers, caps, pace, durations, use_cache)
        return mel.clone(), lengths.clone(), hit_cap.clone()  # ordinary tensors again, usable with autograd

    def _decode(
        self,
        ids: torch.Tensor,
        id_lens: torch.Tensor,
        speakers: torch.Tensor,
        caps: torch.Tensor,
        pace: float,
        durations: torch.Tensor | None,
        use_cache: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`generate` after its checks -> mel (b, 100, t), lengths (b,), hit_cap (b,)."""
        b, r, dec = ids.shape[0], self.decoder.reduction, self.decoder
        memory = self.encode(ids, id_lens, speakers)
        if durations is None:
            durations = durations_from_log(self.predict_durations(memory, id_lens), id_lens, pace)
        durations = durations.masked_fill(lengths_to_padding_mask(id_lens, ids.shape[1]), 0)
        total = durations.sum(dim=1)
        hit_cap = total > caps
        lengths = torch.minimum(total, caps).clamp(min=1)
        t = int(lengths.max())
        steps = -(-t // r)
        cond = self.conditioning(memory, durations, steps * r)
        cond = cond.masked_fill(lengths_to_padding_mask(lengths, steps * r)[..., None], 0.0)
        state = dec.init_state(max_steps=steps) if use_cache else None
        frames_out = memory.new_zeros(b, steps * r, self.config.n_mels)
        prev = memory.new_zeros(b, self.config.n_mels)  # the go frame, then the last frame of each step
        for step in range(steps):
            group = slice(step * r, (step + 1) * r)
            if use_cache:
                frames = dec.step(prev, cond[:, group], state)
            else:  # the inputs of every step so far: the go frame and the last frame of each group in frames_out
                frames = dec.decode(dec.shift_targets(frames_out[:, : group.stop]), cond[:, : group.stop])[:, -r:]
            frames_out[:, group] = frames
            prev = frames[:, -1]
        padding = lengths_to_padding_mask(lengths, t)
        mel = self.denormalize(dec.postnet(frames_out[:, :t], padding)).masked_fill(padding[..., None], SILENCE)
        return rearrange(mel, "b t c -> b c t"), lengths, hit_cap

    # -------------------------------------------------------------------------------------------------- export
    def save_pretrained(
        self,
        out_dir: str | Path,
        vocab: PhonemeVocab,
        speakers: list[str],
        frontend_config: dict[str, Any] | None = None,
        train_config: dict[str, Any] | None = None,
    ) -> Path:
        """Write a self-describing model directory: config.yaml, model.safetensors, vocab.json, speakers.json."""
        if len(vocab) != self.config.vocab_size:
            raise ValueError(
                f"vocabulary has {len(vocab)} symbols but the model was built for {self.config.vocab_size}; "
                "save with the vocabulary the model was trained with"
            )
        speakers = [str(s) for s in speakers]
        if len(speakers) != self.config.n_speakers or len(set(speakers)) != len(speakers):
            raise ValueError(
                f"speakers must be {self.config.n_speakers} distinct names (one per speaker id), got {speakers[:5]}"
            )
        config = {"model": self.config.to_dict(), "frontend": frontend_config, "train": train_config}
        extras = {"vocab.json": json.loads(vocab.to_json()), "speakers.json": speakers}
        return save_model_dir(out_dir, MODEL_TYPE, config, self.state_dict(), extra_json=extras)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> TTSModel:
        """Load a directory written by :meth:`save_pretrained`, in eval mode, with ``.vocab``, ``.speakers``,
        ``.frontend_config`` and ``.train_config`` set. Raises :class:`ModelDirError` (one line) otherwise."""
        from scraps.text.vocab import PhonemeVocab

        raw, state, extras = load_model_dir(path, MODEL_TYPE)
        try:
            config = TTSConfig.from_dict(raw["model"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelDirError(f"{path}: incompatible TTS config ({exc}); re-export it with this version") from None
        model = cls(config)
        load_weights(model, state, path)
        for name in ("vocab.json", "speakers.json"):
            if name not in extras:
                raise ModelDirError(f"{path}: {name} is missing; re-export the model with save_pretrained")
        try:
            vocab = PhonemeVocab.from_json(json.dumps(extras["vocab.json"]))
        except ValueError as exc:
            raise ModelDirError(f"{path}/vocab.json: {exc}") from None
        if len(vocab) != config.vocab_size:
            raise ModelDirError(f"{path}: vocab.json has {len(vocab)} symbols but the model expects {config.vocab_size}")
        speakers = extras["speakers.json"]
        if not isinstance(speakers, list) or len(speakers) != config.n_speakers:
            raise ModelDirError(f"{path}: speakers.json must list {config.n_speakers} speaker names")
        model.vocab = vocab
        model.speakers = speakers
        model.frontend_config = raw.get("frontend")
        model.train_config = raw.get("train")
        return model.eval()

    def init_encoder_from_scraps(self, scraps_dir: str | Path, vocab: PhonemeVocab | None = None) -> list[str]:
        """Copy the ``phonetic_encoder.*`` tensors of a SCRAPS export into this model; return their names.

        ``vocab`` is this model's phoneme vocabulary (default: ``self.vocab``); it must equal the export's
        vocab.json, and the encoder shapes must agree. Raises :class:`ModelDirError` with one line naming the
        mismatch; nothing is copied then.
        """
        from scraps.model import MODEL_TYPE as SCRAPS_TYPE
        from scraps.model import ScrapsConfig
        from scraps.text.vocab import PhonemeVocab

        vocab = vocab if vocab is not None else self.vocab
        if vocab is None:
            raise ValueError("init_encoder_from_scraps needs this model's phoneme vocabulary: pass vocab=")
        if len(vocab) != self.config.vocab_size:
            raise ValueError(
                f"vocab has {len(vocab)} symbols but this TTS model was built for {self.config.vocab_size}"
            )
        raw, state, extras = load_model_dir(scraps_dir, SCRAPS_TYPE)
        try:
            theirs = ScrapsConfig.from_dict(raw["model"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelDirError(f"{scraps_dir}: unreadable SCRAPS config ({exc})") from None
        if "vocab.json" not in extras:
            raise ModelDirError(f"{scraps_dir}: vocab.json is missing, so the phoneme ids cannot be checked")
        try:
            their_vocab = PhonemeVocab.from_json(json.dumps(extras["vocab.json"]))
        except ValueError as exc:
            raise ModelDirError(f"{scraps_dir}/vocab.json: {exc}") from None
        if their_vocab != vocab:
            i = next((i for i, (a, b) in enumerate(zip(vocab.symbols, their_vocab.symbols)) if a != b), None)
            where = (
                f"id {i} is {vocab.symbols[i]!r} here but {their_vocab.symbols[i]!r} there"
                if i is not None
                else f"{len(vocab)} vs {len(their_vocab)} symbols"
            )
            raise ModelDirError(
                f"{scraps_dir}: the SCRAPS phoneme vocabulary differs from the TTS vocabulary ({where}); "
                "train the TTS with the SCRAPS model's vocab.json"
            )
        for name in ENCODER_SHAPE_FIELDS:
            ours, other = getattr(self.config.encoder, name), getattr(theirs.phonetic, name)
            if ours != other:
                raise ModelDirError(
                    f"{scraps_dir}: encoder {name} {ours} != SCRAPS phonetic {name} {other}; "
                    f"set encoder.{name}={other} in the TTS config"
                )
        own = {ENCODER_PREFIX + k: v for k, v in self.phonetic_encoder.state_dict().items()}
        missing = sorted(set(own) - set(state))
        extra = sorted(k for k in state if k.startswith(ENCODER_PREFIX) and k not in own)
        if missing or extra:
            raise ModelDirError(
                f"{scraps_dir}: phonetic encoder tensors do not match (missing {missing[:3]}, unexpected {extra[:3]})"
            )
        for k, v in own.items():
            if state[k].shape != v.shape:
                raise ModelDirError(
                    f"{scraps_dir}: tensor {k} has shape {tuple(state[k].shape)}, this model expects {tuple(v.shape)}"
                )
        self.phonetic_encoder.load_state_dict({k[len(ENCODER_PREFIX) :]: state[k] for k in own})
        return sorted(own)
