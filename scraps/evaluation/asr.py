"""Speech recognition for the score/WER agreement: the recogniser protocol and the offline PocketSphinx one."""
from __future__ import annotations

import importlib.metadata
from typing import Protocol

import torch

from scraps.audio import SAMPLE_RATE, resample


class Recognizer(Protocol):
    """Speech recogniser used for the score/WER correlation."""

    description: str

    def transcribe(self, wav: torch.Tensor) -> str:
        """wav (samples,) at 24 kHz -> lower-case words."""
        ...


class ASRUnavailable(RuntimeError):
    """The requested speech recogniser cannot run here."""


class PocketsphinxASR:
    """Offline CMU PocketSphinx 5 with its bundled US-English acoustic model, dictionary and trigram LM (16 kHz)."""

    SAMPLE_RATE = 16000

    def __init__(self) -> None:
        try:
            import pocketsphinx
        except ImportError:
            raise ASRUnavailable(
                "pocketsphinx is not installed; install the extra with `pip install 'scraps-tts[eval]'`"
            ) from None
        self._decoder = pocketsphinx.Decoder(samprate=self.SAMPLE_RATE, loglevel="FATAL")
        self.description = (
            f"pocketsphinx {importlib.metadata.version('pocketsphinx')}, bundled en-us model + generic trigram LM: a coarse recogniser (tens of % WER "
            "on clean read speech, worse on synthetic voices); read the correlation's sign and size, not its decimals"
        )

    def transcribe(self, wav: torch.Tensor) -> str:
        """wav (samples,) at 24 kHz -> lower-case words ("" when nothing was recognised)."""
        pcm = (resample(wav, SAMPLE_RATE, self.SAMPLE_RATE).clamp(-1, 1) * 32767).to(torch.int16)
        self._decoder.start_utt()
        self._decoder.process_raw(pcm.numpy().tobytes(), full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


def make_recognizer(name: str) -> Recognizer:
    """The recogniser called ``name`` (only "pocketsphinx")."""
    if name != "pocketsphinx":
        raise ASRUnavailable(f"unknown ASR {name!r}; the only one supported is 'pocketsphinx'")
    return PocketsphinxASR()
