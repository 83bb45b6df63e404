"""Typed, YAML-friendly hyper-parameters of the encoder stacks."""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def from_dict(cls: type[T], d: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from a plain nested dict (as ``dataclasses.asdict`` writes it).

    Fields whose type is itself a dataclass are built recursively; an unknown key raises ValueError naming it.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}")
    hints = typing.get_type_hints(cls)
    return cls(**{
        k: from_dict(hints[k], v) if dataclasses.is_dataclass(hints[k]) and isinstance(v, dict) else v
        for k, v in d.items()
    })


class DictRoundTrip:
    """Mixin for config dataclasses: ``to_dict()`` (plain nested, YAML-safe) and ``from_dict(d)`` (its inverse,
    refusing unknown keys)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[T], d: dict[str, Any]) -> T:
        return from_dict(cls, d)


@dataclass
class EncoderConfig:
    """Shape of a transformer encoder stack (used by the phonetic and the acoustic encoder)."""

    dim: int = 256
    layers: int = 4
    heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    # dropout on the attention weights; None: ``dropout`` (with dropout, a CPU's SDPA takes its unfused path)
    attn_dropout: float | None = None
    max_len: int = 4096
