"""Text -> waveform: the shared text frontend, sentence chunks, guarded batched generation, a vocoder.

Per text: :meth:`TextFrontend.phonemize` (normalisation + G2P, as configured in the export) -> the phoneme tokens
cut into sentences (after ``. ? !``), a sentence longer than ``max_tokens`` cut again at a clause mark or a word
boundary -> ids -> :meth:`TTSModel.generate` in batches of chunks (KV cache, predicted durations, per-item length
caps from :class:`LengthGuards`) -> the vocoder -> the chunks of each text joined by ``PAUSE_SECONDS`` of silence.

Chunks are batched across texts, longest first (similar lengths waste fewer decoder steps). With the prenet's
dropout off, a chunk's audio does not depend on its batch; with ``prenet_dropout_at_inference`` it draws from
torch's global RNG (seed it with ``torch.manual_seed``).

``quantize="int8"`` (CPU only) gives the acoustic model, and a Vocos vocoder's backbone, int8 weights through
PyTorch's dynamic quantisation of their ``nn.Linear`` layers (:func:`int8_weights`): batch-1 decoding reads 4x
fewer weight bytes per step. Teacher-forced, the mels differ from float32 by 2-3 % (relative error; per-tensor
weight scales, inputs quantised per call); the float32 path is untouched when it is off.
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from scraps.audio.features import HOP_LENGTH, SAMPLE_RATE
from scraps.export import ModelDirError
from scraps.progress import progress as progress_bar
from scraps.text import PhonemeVocab, TextError, TextFrontend
from scraps.text.vocab import PROSODY_MARKS, PUNCTUATION
from tts.model import TTSModel
from tts.vocoder import Vocoder, VocosVocoder, load_vocoder

PAUSE_SECONDS = 0.25  # silence between the sentences of one text
FRAMES_PER_SECOND = SAMPLE_RATE / HOP_LENGTH
SENTENCE_END = frozenset(".?!")
CLAUSE_MARKS = frozenset(",;:-")
_NOT_PHONES = frozenset({PhonemeVocab.WB, *PUNCTUATION, *PROSODY_MARKS})
QUANTIZE_MODES = ("int8",)


class SynthesisError(ValueError):
    """A request the synthesiser cannot serve: unknown speaker, unusable device, bad setting."""


@dataclass
class LengthGuards:
    """Bounds on every generated chunk, so that no decode runs away.

    A chunk of n ids (bos/eos included) is spoken for the sum of its predicted durations, cut at
    ``min(ceil(max_len_ratio * n), max_seconds of frames, the decoder's position limit)`` (reported as hit_cap).
    Read speech runs at about 6 frames per id (LJSpeech: median 6.1, max 7.5), hence the default ratio of 15.
    """

    max_len_ratio: float = 15.0
    max_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not (self.max_len_ratio > 0 and self.max_seconds > 0):
            raise SynthesisError(
                f"length guards must be positive (max_len_ratio {self.max_len_ratio}, max_seconds "
                f"{self.max_seconds}); e.g. --max-len-ratio 15"
            )


def generate_guarded(
    model: TTSModel,
    ids: torch.Tensor,
    id_lens: torch.Tensor,
    speakers: torch.Tensor,
    guards: LengthGuards,
    pace: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:meth:`TTSModel.generate` with per-item caps from ``guards``: ids (b, n), id_lens (b,), speakers (b,).

    Returns mel (b, 100, t) Vocos log-mel, lengths (b,) and hit_cap (b,) bool.
    """
    dec = model.decoder
    limit = min(math.floor(guards.max_seconds * FRAMES_PER_SECOND), dec.max_steps * dec.reduction)
    caps = torch.ceil(id_lens.float() * guards.max_len_ratio).long().clamp(1, max(1, limit))
    return model.generate(ids, id_lens, speakers, max_frames=caps, pace=pace)


def _strip_boundaries(tokens: list[str]) -> list[str]:
    start, end = 0, len(tokens)
    while start < end and tokens[start] == PhonemeVocab.WB:
        start += 1
    while end > start and tokens[end - 1] == PhonemeVocab.WB:
        end -= 1
    return tokens[start:end]


def split_sentences(tokens: list[str], max_tokens: int) -> list[list[str]]:
    """Phoneme tokens of one text -> chunks of at most ``max_tokens`` tokens, each with at least one phone.

    Cuts after every sentence end (``. ? !``). A longer sentence is cut after its last clause mark (``, ; : -``)
    that keeps the piece within ``max_tokens``, else before its last word that fits, else (one enormous word)
    at ``max_tokens``. Word boundaries at the edges of a chunk are dropped.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    sentences: list[list[str]] = [[]]
    for tok in tokens:
        sentences[-1].append(tok)
        if tok in SENTENCE_END:
            sentences.append([])
    chunks = []
    for sentence in sentences:
        rest = _strip_boundaries(sentence)
        while len(rest) > max_tokens:
            head = rest[: max_tokens + 1]  # a word boundary at max_tokens still allows a cut of max_tokens
            marks = [i + 1 for i, t in enumerate(head[:max_tokens]) if t in CLAUSE_MARKS]
            words = [i for i, t in enumerate(head) if t == PhonemeVocab.WB and i > 0]
            cut = marks[-1] if marks else words[-1] if words else max_tokens
            chunks.append(_strip_boundaries(rest[:cut]))
            rest = _strip_boundaries(rest[cut:])
        chunks.append(rest)
    return [c for c in chunks if any(t not in _NOT_PHONES for t in c)]


@dataclass
class Utterance:
    """The result for one text of :meth:`Synthesizer.synthesize_batch`."""

    text: str
    wave: np.ndarray | None = None  # (samples,) float32 at SAMPLE_RATE; None when the text was refused
    error: str | None = None  # why the text was refused (one line)
    sentences: int = 0  # chunks synthesised, joined by PAUSE_SECONDS of silence
    capped: int = 0  # chunks whose predicted durations ran past their length cap (cut there)
    wall_time: float = 0.0  # seconds spent on this text (a batched stage's time shared out by audio length)

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return 0.0 if self.wave is None else len(self.wave) / SAMPLE_RATE

    @property
    def rtf(self) -> float:
        """Real-time factor: wall time / audio duration (inf without audio)."""
        return self.wall_time / self.duration if self.duration else math.inf

    @property
    def hit_cap(self) -> bool:
        """True when any chunk of the text ended at its length cap."""
        return self.capped > 0


def resolve_device(spec: str | torch.device) -> torch.device:
    """"cpu", "cuda" or "cuda:N" -> torch.device; :class:`SynthesisError` when unusable here."""
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise SynthesisError(f"unknown device {str(spec)!r}; use cpu or cuda") from None
    if device.type not in ("cpu", "cuda"):
        raise SynthesisError(f"device {str(spec)!r} is not supported; use cpu or cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SynthesisError("CUDA is not available on this machine (no GPU or a CPU-only torch); use --device cpu")
    return device


def check_quantize(quantize: str | None, device: str | torch.device) -> None:
    """Refuse with :class:`SynthesisError` a ``quantize`` mode that is unknown or that ``device`` cannot run.

    Looks only at the device's name (before :func:`resolve_device`), so the refusal is the same with or without a GPU.
    """
    if quantize is None:
        return
    if quantize not in QUANTIZE_MODES:
        raise SynthesisError(f"unknown quantize mode {quantize!r}; use int8 (CPU only) or leave it out")
    kind = str(device).split(":")[0]
    if kind != "cpu":
        raise SynthesisError(
            f"--quantize {quantize} runs on the CPU only (PyTorch's dynamic int8 kernels), not on {kind}; "
            "use --device cpu or drop --quantize"
        )


def int8_weights(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose ``nn.Linear`` layers hold int8 weights, one scale per tensor (CPU kernels only).

    PyTorch's dynamic quantisation: each call quantises its input on the fly, multiplies in integers and returns
    float. Inputs and outputs keep the original module's shapes; the original is left as it is.
    """
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao; it still works here
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.ao.quantization.quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)


def quantize_int8(model: TTSModel, vocoder: Vocoder) -> tuple[TTSModel, Vocoder]:
    """Int8 copies for CPU synthesis: the acoustic model's linear layers, and a Vocos vocoder's backbone.

    The Vocos head (the last linear layer before the inverse STFT) stays float32, and so does Griffin-Lim (no
    weights). The KV-cached decoder calls its quantised q/k/v projections one by one (see
    :meth:`scraps.nn.layers.MultiHeadAttention.new_cache`).
    """
    if isinstance(vocoder, VocosVocoder):
        vocoder = copy.deepcopy(vocoder)
        vocoder.vocos.backbone = int8_weights(vocoder.vocos.backbone)
        vocoder.name += ", int8 backbone"
    return int8_weights(model.eval()), vocoder


class Synthesizer:
    """Text -> 24 kHz waveform with a TTS export, its text frontend and a vocoder.

    ``max_tokens`` bounds the phoneme tokens per generated chunk (LJSpeech sentences reach about 160); ``pace``
    scales the speaking rate (1.2: every phoneme 1.2x shorter).
    """

    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        model: TTSModel,
        frontend: TextFrontend,
        vocoder: Vocoder,
        *,
        guards: LengthGuards | None = None,
        max_tokens: int = 200,
        pace: float = 1.0,
    ) -> None:
        if not pace > 0:
            raise SynthesisError(f"pace must be positive (1.0 is the trained rate), got {pace}")
        if model.vocab is None or model.speakers is None:
            raise ValueError("the model needs .vocab and .speakers: load it with TTSModel.from_pretrained")
        if not 1 <= max_tokens <= model.config.encoder.max_len - 2:
            raise ValueError(f"max_tokens must lie in 1..{model.config.encoder.max_len - 2}, got {max_tokens}")
        self.model = model.eval()
        self.frontend = frontend
        self.vocoder = vocoder
        self.guards = guards or LengthGuards()
        self.max_tokens = max_tokens
        self.pace = pace
        self.device = next(model.parameters()).device

    @classmethod
    def from_pretrained(
        cls,
        model_dir: str | Path,
        vocoder: str | Vocoder = "auto",
        device: str | torch.device = "cpu",
        *,
        guards: LengthGuards | None = None,
        max_tokens: int = 200,
        quantize: str | None = None,
        pace: float = 1.0,
    ) -> Synthesizer:
        """Load a TTS export (its text frontend config included) and a vocoder (see :func:`load_vocoder`).

        ``quantize="int8"`` (CPU only) synthesises with int8 weights (:func:`quantize_int8`); None keeps float32.
        Raises :class:`ModelDirError`, :class:`tts.vocoder.VocoderError` or :class:`SynthesisError` with one line.
        """
        check_quantize(quantize, device)
        device = resolve_device(device)
        model = TTSModel.from_pretrained(model_dir)
        try:
            frontend = model.frontend()
        except ModelDirError as exc:
            raise ModelDirError(f"{model_dir}: {exc}") from None
        if isinstance(vocoder, str):
            vocoder = load_vocoder(vocoder, device)
        model, vocoder = model.to(device), vocoder.to(device)
        if quantize == "int8":
            model, vocoder = quantize_int8(model, vocoder)
        return cls(model, frontend, vocoder, guards=guards, max_tokens=max_tokens, pace=pace)

    @property
    def speakers(self) -> list[str]:
        """Speaker names in id order."""
        return list(self.model.speakers or [])

    def speaker_id(self, speaker: str | int | None) -> int:
        """A speaker name, or an id (int or digit string) -> id; None -> 0. :class:`SynthesisError` if unknown."""
        names = self.speakers
        if speaker is None:
            return 0
        if isinstance(speaker, str) and speaker in names:
            return names.index(speaker)
        if isinstance(speaker, int) or str(speaker).isdigit():
            if 0 <= int(speaker) < len(names):
                return int(speaker)
        shown = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
        raise SynthesisError(
            f"unknown speaker {str(speaker)!r}; this model has {len(names)}: {shown} (or ids 0..{len(names) - 1}); "
            "list them with --list-speakers"
        )

    def synthesize(self, text: str, speaker: str | int | None = None) -> tuple[np.ndarray, int]:
        """One text -> (wave (samples,) float32, sample rate). Raises :class:`TextError` for text with no words."""
        [utt] = self.synthesize_batch([text], speaker)
        if utt.error is not None:
            raise TextError(utt.error)
        return utt.wave, self.sample_rate

    def synthesize_batch(
        self, texts: list[str], speaker: str | int | None = None, batch_size: int = 8, progress: bool = False
    ) -> list[Utterance]:
        """Many texts -> one :class:`Utterance` each, in order; a text with nothing to say gets ``error`` set.

        Up to ``batch_size`` chunks (sentences, from any of the texts) are generated and vocoded together.
        """
        if batch_size < 1:
            raise SynthesisError(f"batch size must be >= 1, got {batch_size}")
        spk = self.speaker_id(speaker)
        utts = [Utterance(text) for text in texts]
        chunks: list[tuple[int, int, list[int]]] = []  # (text index, chunk index, ids)
        for i, utt in enumerate(utts):
            start = time.perf_counter()
            try:
                pieces = split_sentences(self.frontend.phonemize(utt.text), self.max_tokens)
            except TextError as exc:
                utt.error = str(exc)
            else:
                chunks += [(i, j, self.model.vocab.encode(p)) for j, p in enumerate(pieces)]
                utt.sentences = len(pieces)
            utt.wall_time += time.perf_counter() - start
        chunks.sort(key=lambda c: len(c[2]), reverse=True)
        audio: dict[tuple[int, int], np.ndarray] = {}
        starts = range(0, len(chunks), batch_size)
        for b in progress_bar(starts, desc="synthesising", unit="batch", disable=not progress or len(starts) < 2):
            group = chunks[b : b + batch_size]
            start = time.perf_counter()
            waves, capped = self._render([ids for _, _, ids in group], spk)
            elapsed = time.perf_counter() - start
            total = sum(len(w) for w in waves)
            for (i, j, _), wave, cap in zip(group, waves, capped):
                audio[i, j] = wave
                utts[i].capped += int(cap)
                utts[i].wall_time += elapsed * len(wave) / total
        pause = np.zeros(round(PAUSE_SECONDS * SAMPLE_RATE), dtype=np.float32)
        for i, utt in enumerate(utts):
            if utt.error is None:
                joined = [piece for j in range(utt.sentences) for piece in (pause, audio[i, j])][1:]
                utt.wave = np.concatenate(joined)
        return utts

    def _render(self, ids_list: list[list[int]], speaker: int) -> tuple[list[np.ndarray], list[bool]]:
        """Chunks as id lists -> their waves (samples,) float32 and whether each hit its cap."""
        id_lens = torch.tensor([len(x) for x in ids_list], device=self.device)
        ids = pad_sequence(
            [torch.tensor(x) for x in ids_list], batch_first=True, padding_value=self.model.vocab.pad_id
        ).to(self.device)
        speakers = torch.full((len(ids_list),), speaker, dtype=torch.long, device=self.device)
        with torch.inference_mode():
            mel, lengths, hit_cap = generate_guarded(self.model, ids, id_lens, speakers, self.guards, self.pace)
            audio = self.vocoder(mel, lengths).float().cpu()
        waves = [audio[k, : n * HOP_LENGTH].numpy() for k, n in enumerate(lengths.tolist())]
        return waves, hit_cap.tolist()
