"""Typed, YAML-friendly hyper-parameters of the encoder stacks."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EncoderConfig:
    """Shape of a transformer encoder stack (used by the phonetic and the acoustic encoder)."""

    dim: int = 256
    layers: int = 4
    heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    max_len: int = 4096
