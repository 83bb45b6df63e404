"""Offline speech synthesis with the espeak-ng library shipped in ``espeakng-loader``.

espeak-ng keeps its state in global variables, so this module loads a private copy of the
shared library (copied to a temporary directory, as phonemizer does for its own instance).
Our synthesiser and phonemizer's phonemiser then never see each other's voice, parameters or
callbacks, whatever order they are used in. All calls into the copy are serialised by a lock.
"""

from __future__ import annotations

import _ctypes
import ctypes
import random
import shutil
import tempfile
import threading
import weakref
from pathlib import Path

import espeakng_loader
import numpy as np

__all__ = ["EspeakSynth", "list_speakers", "trim_silence"]

# espeak_AUDIO_OUTPUT, espeak_PARAMETER, espeak_POSITION_TYPE and flag values from speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 0x02
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_PARAM_RATE = 1
_PARAM_PITCH = 3
_PARAM_RANGE = 4
_EE_OK = 0
_RAND_SEED = 1

# int SynthCallback(short *wav, int numsamples, espeak_EVENT *events)
_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_unload_library = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary")


class _EspeakLibrary:
    """A private copy of libespeak-ng, reloaded before every utterance.

    espeak-ng is not deterministic out of the box: it seeds its noise generator from the clock at initialisation,
    and it carries hidden state from one utterance to the next (the phase of its pitch flutter lives in a
    function-local static that ``espeak_Terminate``/``espeak_Initialize`` do not reset). Unloading and reloading
    the copy before each utterance (1-3 ms) and fixing the noise seed make every utterance a pure function of its
    text and voice settings.
    """

    _instance: _EspeakLibrary | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        source = Path(espeakng_loader.get_library_path())
        if not source.is_file():
            raise RuntimeError(f"espeak-ng library not found at {source}: reinstall espeakng-loader")
        self._tempdir = tempfile.mkdtemp(prefix="scraps-espeak-")
        weakref.finalize(self, shutil.rmtree, self._tempdir, True)
        data_path, self._voice_files, self.variants = _mirror_data(
            Path(espeakng_loader.get_data_path()), Path(self._tempdir)
        )
        self._data_path = str(data_path).encode()
        self._copy = Path(self._tempdir) / source.name
        shutil.copyfile(source, self._copy)
        self.lock = threading.Lock()
        self._chunks: list[bytes] = []
        self._callback = _SynthCallback(self._collect)  # keep a reference: C holds only the pointer
        self._lib: ctypes.CDLL | None = None
        self._dirty = False  # True once the loaded copy has been used
        self.sample_rate = self._load()

    @classmethod
    def get(cls) -> _EspeakLibrary:
        """Return the process-wide instance, creating it on first use."""
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def voice_file(self, voice: str) -> str:
        """The name to give espeak for ``voice`` ('en-us+m3' -> 'gmw/en-us+m3'), so that it loads the voice file
        directly instead of scanning every voice file to find it."""
        base, plus, variant = voice.partition("+")
        return self._voice_files.get(base.lower(), base) + plus + variant

    def _load(self) -> int:
        """dlopen the private copy, initialise it and install the callback; returns the sample rate."""
        lib = ctypes.CDLL(str(self._copy))
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_Terminate.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self._data_path, 0)
        if rate <= 0:
            raise RuntimeError(
                f"espeak-ng failed to initialise with data at {self._data_path.decode()}: reinstall espeakng-loader"
            )
        lib.espeak_SetSynthCallback(self._callback)
        self._lib = lib
        self._dirty = False
        return int(rate)

    def _reload(self) -> None:
        """Terminate and unload the copy, then load it again with all its static state fresh."""
        lib, self._lib = self._lib, None
        if lib is not None:
            lib.espeak_Terminate()
            _unload_library(lib._handle)
        self._load()

    def _collect(self, wav: ctypes.POINTER(ctypes.c_short), num_samples: int, events: int | None) -> int:
        """espeak's synth callback: keep the chunk of samples."""
        if num_samples > 0 and wav:
            self._chunks.append(ctypes.string_at(wav, num_samples * 2))
        return 0  # 0 = continue synthesis

    def _fresh(self, voice_file: str) -> ctypes.CDLL | None:
        """A freshly loaded library with ``voice_file`` selected, or None without such a voice. Hold the lock."""
        if self._dirty or self._lib is None:
            self._reload()
        self._dirty = True
        return self._lib if self._lib.espeak_SetVoiceByName(voice_file.encode()) == _EE_OK else None

    def has_voice(self, voice_file: str) -> bool:
        """Whether espeak can select ``voice_file`` (from :meth:`voice_file`)."""
        with self.lock:
            return self._fresh(voice_file) is not None

    def synthesize(self, text: str, voice_file: str, rate: int, pitch: int, pitch_range: int) -> np.ndarray:
        """Speak ``text`` with the given voice and parameters; int16 samples at ``sample_rate``."""
        with self.lock:
            lib = self._fresh(voice_file)
            if lib is None:
                raise ValueError(f"espeak-ng cannot load voice {voice_file!r}: check the espeakng-loader install")
            for parameter, value in ((_PARAM_RATE, rate), (_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range)):
                lib.espeak_SetParameter(parameter, value, 0)
            lib.espeak_ng_SetRandSeed(_RAND_SEED)  # initialisation seeds the breath noise from the clock
            data = text.encode("utf-8") + b"\0"
            self._chunks = []
            status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None)
            lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        if status != _EE_OK:
            raise RuntimeError(f"espeak-ng failed (status {status}) on text {text[:60]!r}: check the text")
        return np.frombuffer(b"".join(chunks), dtype=np.int16)


def _mirror_data(data: Path, root: Path) -> tuple[Path, dict[str, str], set[str]]:
    """Mirror espeak-ng's data folder under ``root`` with symlinks, the voice files in ``lang/`` under lower-case
    names; return the mirror, a map from voice name to its file ('en-us' -> 'gmw/en-us') and the variant names.

    espeak_SetVoiceByName loads a voice file at once only when given its path in lower case ('gmw/en'); for
    'en-us' or 'gmw/en-US' it scans every voice file (5-10 ms, paid on every utterance because the library is
    reloaded each time). Where symlinks cannot be made, the original folder is used.
    """
    mirror = root / "espeak-ng-data"
    voices: dict[str, str] = {}
    try:
        mirror.mkdir()
        for entry in data.iterdir():
            if entry.name != "lang":
                (mirror / entry.name).symlink_to(entry)
        for file in sorted((data / "lang").rglob("*")):
            relative = file.relative_to(data / "lang").as_posix().lower()
            alias = mirror / "lang" / relative
            if file.is_file() and not alias.exists():
                alias.parent.mkdir(parents=True, exist_ok=True)
                alias.symlink_to(file)
                voices.setdefault(file.name.lower(), relative)
    except OSError:
        mirror, voices = data, {}
    return mirror, voices, {file.name for file in (data / "voices" / "!v").iterdir()}


def trim_silence(audio: np.ndarray, sample_rate: int, keep: float = 0.1, threshold_db: float = -40.0) -> np.ndarray:
    """Cut leading/trailing samples quieter than ``threshold_db`` below the peak, keeping ``keep`` s of margin."""
    magnitude = np.abs(audio)
    peak = float(magnitude.max()) if magnitude.size else 0.0
    if peak == 0.0:
        return audio
    loud = np.flatnonzero(magnitude >= peak * 10.0 ** (threshold_db / 20.0))
    margin = int(round(keep * sample_rate))
    return audio[max(0, loud[0] - margin) : loud[-1] + 1 + margin]


class EspeakSynth:
    """One espeak-ng voice: base voice (e.g. ``en-us``), optional variant (e.g. ``m3``), rate in words per
    minute, pitch and pitch range in espeak units (0-100)."""

    def __init__(
        self,
        voice: str = "en-us",
        variant: str | None = None,
        rate: int = 170,
        pitch: int = 50,
        pitch_range: int = 50,
    ) -> None:
        if not 80 <= rate <= 450:
            raise ValueError(f"espeak rate {rate} is out of range: use 80-450 words per minute")
        for label, value in (("pitch", pitch), ("pitch_range", pitch_range)):
            if not 0 <= value <= 100:
                raise ValueError(f"espeak {label} {value} is out of range: use 0-100")
        self.voice = voice
        self.variant = variant
        self.rate = rate
        self.pitch = pitch
        self.pitch_range = pitch_range
        self._library = _EspeakLibrary.get()
        if variant is not None and variant not in self._library.variants:
            raise ValueError(f"espeak-ng has no voice variant {variant!r}: use one such as 'm3' or 'f2'")
        self._voice_file = self._library.voice_file(f"{voice}+{variant}" if variant else voice)
        if not self._library.has_voice(self._voice_file):
            raise ValueError(
                f"espeak-ng has no voice {voice!r}: use one such as 'en-us', 'en' or 'en-gb-x-rp'"
            )
        self.sample_rate: int = self._library.sample_rate

    def synthesize(self, text: str) -> np.ndarray:
        """Speak ``text``; shape ``(samples,)`` float32 in [-1, 1] at ``self.sample_rate``, leading/trailing silence
        trimmed to about 0.1 s. The same arguments always give the same samples.

        espeak expands digits itself, but not always as a text normaliser would ('$12' -> 'dollar twelve')."""
        if not text.strip():
            raise ValueError("cannot synthesise empty text: give at least one word")
        samples = self._library.synthesize(text, self._voice_file, self.rate, self.pitch, self.pitch_range)
        audio = samples.astype(np.float32) / 32768.0
        return trim_silence(audio, self.sample_rate)

    def __repr__(self) -> str:
        return (
            f"EspeakSynth(voice={self.voice!r}, variant={self.variant!r}, rate={self.rate}, "
            f"pitch={self.pitch}, pitch_range={self.pitch_range})"
        )


# English base voices (accents) and voice variants that still sound like a human speaker.
_BASE_VOICES = (
    "en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-us-nyc", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
)
_MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")
_FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5")


def list_speakers(n: int, seed: int = 0) -> list[dict]:
    """``n`` distinct speaker specs, deterministic for ``seed``: keys name, voice, variant, rate, pitch, pitch_range.

    Speakers alternate male/female variants and spread over accents and variants before reusing any, so the
    first few already sound clearly different; rate (135-205 wpm), pitch and range vary per speaker.
    """
    if n < 1:
        raise ValueError(f"list_speakers needs n >= 1, got {n}")
    rng = random.Random(f"speakers-{seed}")
    voices = list(_BASE_VOICES)
    pools = [list(_MALE_VARIANTS), list(_FEMALE_VARIANTS)]
    rng.shuffle(voices)
    for pool in pools:
        rng.shuffle(pool)
    if rng.random() < 0.5:
        pools.reverse()
    speakers: list[dict] = []
    names: set[str] = set()
    while len(speakers) < n:
        i = len(speakers)
        pool = pools[i % 2]
        variant = pool[(i // 2) % len(pool)]
        voice = voices[(i + i // len(voices)) % len(voices)]
        rate = rng.randrange(135, 206, 5)
        pitch = rng.randrange(30, 71, 5)
        pitch_range = rng.randrange(30, 91, 10)
        name = f"{voice}_{variant}_r{rate}_p{pitch}"
        if name in names:
            continue
        names.add(name)
        speakers.append(
            {"name": name, "voice": voice, "variant": variant, "rate": rate, "pitch": pitch, "pitch_range": pitch_range}
        )
    return speakers
