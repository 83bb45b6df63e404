"""The offline multi-speaker demo corpus: our own sentences spoken by espeak-ng voices.

Everything is generated here, deterministically and without downloads: sentences come from
:mod:`scraps.data.demo_sentences`, speech from :mod:`scraps.data.espeak_synth`. The result is an LJSpeech-like
folder (``wavs/*.flac`` + ``metadata.csv`` with ``path|text|speaker`` rows) for the demo recipe. The corpus
stores each sentence's written form and espeak-ng speaks its spoken form (numbers in words).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from scraps.data.demo_sentences import Sentence, generate_sentences, generate_utterances
from scraps.data.espeak_synth import EspeakSynth, list_speakers
from scraps.progress import progress

__all__ = ["Sentence", "generate_sentences", "generate_utterances", "write_demo_corpus"]

logger = logging.getLogger(__name__)


_FORMAT_VERSION = 1
_PARAMS_FILE = "demo_corpus.json"
_METADATA_FILE = "metadata.csv"


def _check_clip(audio: np.ndarray, sample_rate: int, sentence: Sentence, speaker: str) -> None:
    """Raise if a synthesised clip is silent or its duration is implausible for its number of words."""
    words = len(sentence.spoken.split())
    seconds = audio.size / sample_rate
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak < 0.05 or not 0.1 * words <= seconds <= 1.0 * words + 1.5:
        raise RuntimeError(
            f"espeak-ng gave {seconds:.2f} s (peak {peak:.3f}) for {words} words of {sentence.text!r} with speaker "
            f"{speaker}: check the espeakng-loader install"
        )


def _write_clips(
    wav_dir: Path, speakers: list[dict], sentences: list[Sentence], utts_per_speaker: int, sample_rate: int
) -> list[str]:
    """Synthesise, check, resample and write every clip; return the metadata rows."""
    resample: torch.nn.Module | None = None  # one instance for all clips (its kernel is computed once)
    rows: list[str] = []
    with progress(total=len(sentences), desc="demo corpus", unit="utt") as bar:
        for s, spec in enumerate(speakers):
            synth = EspeakSynth(spec["voice"], spec["variant"], spec["rate"], spec["pitch"], spec["pitch_range"])
            if resample is None and synth.sample_rate != sample_rate:
                resample = torchaudio.transforms.Resample(synth.sample_rate, sample_rate)
            for i in range(utts_per_speaker):
                sentence = sentences[s * utts_per_speaker + i]
                audio = synth.synthesize(sentence.spoken)
                _check_clip(audio, synth.sample_rate, sentence, spec["name"])
                if resample is not None:
                    with torch.inference_mode():
                        audio = resample(torch.from_numpy(audio)[None])[0].numpy()
                pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
                name = f"{spec['name']}_{i:04d}.flac"
                sf.write(wav_dir / name, pcm, sample_rate, subtype="PCM_16", format="FLAC")
                rows.append(f"wavs/{name}|{sentence.text}|{spec['name']}\n")
                bar.update()
    return rows


def write_demo_corpus(
    out_dir: str | Path,
    num_speakers: int = 8,
    utts_per_speaker: int = 150,
    seed: int = 0,
    sample_rate: int = 24000,
    first_speaker: int = 0,
) -> Path:
    """Write the demo corpus to ``out_dir`` and return ``out_dir``.

    Layout: ``wavs/<speaker>_<idx>.flac`` (mono 16-bit FLAC at ``sample_rate``, resampled from espeak's 22,050 Hz)
    and ``metadata.csv`` with rows ``wavs/<file>.flac|<text>|<speaker>`` (no header, paths relative to
    ``out_dir``). Speakers come from ``list_speakers(num_speakers, seed)``; each utterance is its own sentence from
    ``generate_utterances(num_speakers * utts_per_speaker, seed)``, speaker ``i`` taking the ``i``-th block.
    ``first_speaker`` > 0 writes only speakers ``first_speaker`` .. ``num_speakers - 1`` (with the same voices and
    sentences as in the whole corpus): e.g. voices and sentences that a corpus of the first ``first_speaker``
    speakers never had.

    The metadata text is the raw written sentence (digits, ``$12``, ``7:45 p.m.``), for the text normaliser to
    expand. espeak-ng is NOT given that raw text: it misreads money, years and some clock times, so it speaks
    the sentence's spoken form (numbers in words, as the normaliser reads them), and the audio matches the text.

    Idempotent: the parameters are kept in ``demo_corpus.json``, written last; when it and ``metadata.csv`` exist
    with the same parameters, nothing is done. Deterministic: the same arguments give byte-identical files.
    """
    if num_speakers < 1 or utts_per_speaker < 1 or sample_rate < 8000 or not 0 <= first_speaker < num_speakers:
        raise ValueError(
            f"write_demo_corpus needs num_speakers >= 1, utts_per_speaker >= 1, sample_rate >= 8000 and "
            f"0 <= first_speaker < num_speakers, got {num_speakers}, {utts_per_speaker}, {sample_rate}, {first_speaker}"
        )
    out_dir = Path(out_dir)
    params = {
        "format_version": _FORMAT_VERSION,
        "num_speakers": num_speakers,
        "utts_per_speaker": utts_per_speaker,
        "seed": seed,
        "sample_rate": sample_rate,
        **({"first_speaker": first_speaker} if first_speaker else {}),
    }
    params_path = out_dir / _PARAMS_FILE
    metadata_path = out_dir / _METADATA_FILE
    previous = json.loads(params_path.read_text()) if params_path.is_file() else None
    if previous is not None and previous.get("params") == params and metadata_path.is_file():
        logger.info("demo corpus already in %s", out_dir)
        return out_dir

    wav_dir = out_dir / "wavs"
    wav_dir.mkdir(parents=True, exist_ok=True)
    params_path.unlink(missing_ok=True)  # an interrupted run must not look finished
    speakers = list_speakers(num_speakers, seed)[first_speaker:]
    sentences = generate_utterances(num_speakers * utts_per_speaker, seed)[first_speaker * utts_per_speaker :]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one short clip at a time: extra threads only slow the resampler down
    try:
        rows = _write_clips(wav_dir, speakers, sentences, utts_per_speaker, sample_rate)
    finally:
        torch.set_num_threads(threads)

    if previous is not None:  # files of an earlier corpus with other parameters
        keep = {row.split("|", 1)[0][len("wavs/"):] for row in rows}
        for stale in wav_dir.glob("*.flac"):
            if stale.name not in keep:
                stale.unlink()
    tmp = metadata_path.with_suffix(".csv.tmp")
    tmp.write_text("".join(rows), encoding="utf-8")
    tmp.replace(metadata_path)
    record = {"params": params, "speakers": speakers, "num_utterances": len(rows)}
    params_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return out_dir
