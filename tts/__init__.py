"""Autoregressive TTS on the SCRAPS phonetic encoder: phonemes + speaker -> Vocos log-mel."""
from tts.decoder import ARDecoder, DecoderConfig
from tts.model import TTSConfig, TTSModel

__all__ = ["ARDecoder", "DecoderConfig", "TTSConfig", "TTSModel"]
