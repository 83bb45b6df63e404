"""Neural building blocks: transformer layers and the two SCRAPS encoders."""
from scraps.nn.acoustic_encoder import AcousticEncoder
from scraps.nn.config import EncoderConfig
from scraps.nn.layers import (
    FeedForward,
    KVCache,
    MultiHeadAttention,
    SinusoidalPositions,
    TransformerLayer,
    lengths_to_padding_mask,
)
from scraps.nn.phonetic_encoder import PhoneticEncoder

__all__ = [
    "AcousticEncoder", "EncoderConfig", "FeedForward", "KVCache", "MultiHeadAttention", "PhoneticEncoder",
    "SinusoidalPositions", "TransformerLayer", "lengths_to_padding_mask",
]
