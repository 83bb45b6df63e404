"""Several prepared corpora -> one manifest directory that training reads like any other.

Each part is a directory written by :mod:`scraps.data.prepare` (``cuts_{train,dev,test}.jsonl.gz`` and
``prepare_report.json``). Every cut is renamed into its corpus' namespace (cut, recording and supervision ids and the
speaker become ``<corpus>_<old>``), so two corpora never share a cut id or a speaker; the mixed train split
interleaves the parts with lhotse's ``CutSet.mux`` (weighted by their sizes, so each part is spread evenly through the
file), dev and test are concatenated with ``lhotse.combine``. The output is ordinary manifests plus a
``prepare_report.json`` holding the text frontend all parts share (parts prepared with different frontends, i.e.
phoneme vocabularies, are refused), so training, evaluation and ``frontend_for_data`` need no new code path.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lhotse import CutSet, combine
from lhotse.cut import Cut
from lhotse.utils import fastcopy

from scraps.data.prepare import REPORT_NAME, SPLITS, DataError, load_cuts, seeded_order


@dataclass
class MixPart:
    """One prepared corpus directory and which of its splits feed which mixed split.

    ``splits`` maps a mixed split to the part's split, e.g. ``{"train": "train", "dev": "dev"}`` (a part that
    only supplies test data: ``{"test": "train"}``). ``train_fraction`` keeps that share of the cuts going into the
    mixed train split, chosen by a seeded hash of their ids, so a smaller share is a subset of a larger one;
    ``repeat`` lists those cuts that many times (lhotse ``CutSet.repeat``; copies get the suffix ``_repeat<k>``).
    """

    corpus: str
    data_dir: Path
    splits: dict[str, str] = field(default_factory=lambda: {s: s for s in SPLITS})
    train_fraction: float = 1.0
    repeat: int = 1

    def describe(self) -> dict[str, Any]:
        return {"corpus": self.corpus, "data_dir": str(Path(self.data_dir).resolve()), "splits": self.splits,
                "train_fraction": self.train_fraction, "repeat": self.repeat}


def _prefixed(cut: Cut, corpus: str) -> Cut:
    """The cut with its id, its recording's id and its supervisions' ids and speakers prefixed by ``corpus``."""
    name = f"{corpus}_{{}}".format
    recording = fastcopy(cut.recording, id=name(cut.recording.id)) if cut.recording is not None else None
    supervisions = [
        fastcopy(s, id=name(s.id), recording_id=name(s.recording_id), speaker=name(s.speaker) if s.speaker else None)
        for s in cut.supervisions
    ]
    return fastcopy(cut, id=name(cut.id), recording=recording, supervisions=supervisions)


def namespaced(cuts: CutSet, corpus: str) -> CutSet:
    """``cuts`` renamed into ``corpus``' namespace (cut, recording, supervision ids and speakers prefixed)."""
    return CutSet.from_cuts(_prefixed(c, corpus) for c in cuts)


def take_fraction(cuts: CutSet, fraction: float, seed: int) -> CutSet:
    """round(fraction * n) of the n cuts, the first in a seeded hash order of their ids (nested across fractions)."""
    if not 0.0 < fraction <= 1.0:
        raise DataError(f"a train fraction must be in (0, 1], got {fraction}")
    by_id = {c.id: c for c in cuts}
    kept = seeded_order(list(by_id), f"fraction-{seed}")[: max(1, round(fraction * len(by_id)))]
    return CutSet.from_cuts(by_id[i] for i in sorted(kept))


def _report_of(part: MixPart) -> dict[str, Any]:
    path = Path(part.data_dir) / REPORT_NAME
    if not path.is_file():
        raise DataError(f"{path} not found; prepare corpus '{part.corpus}' first (python -m scraps.data.prepare ...)")
    return json.loads(path.read_text())


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def mix_corpora(parts: list[MixPart], out_dir: str | Path, seed: int = 0, force: bool = False) -> dict[str, CutSet]:
    """Write the mix of ``parts`` to ``out_dir`` (``cuts_{train,dev,test}.jsonl.gz``, ``prepare_report.json``).

    Returns the three mixed CutSets. Reruns with the same parts (and unchanged part manifests) read what is there.
    Raises :class:`DataError` when parts disagree on the text frontend, a mixed split would be empty, or two cuts
    end up with one id.
    """
    out_dir = Path(out_dir)
    if not parts:
        raise DataError("nothing to mix: give at least one prepared corpus")
    reports = [_report_of(p) for p in parts]
    frontend = reports[0]["frontend"]
    for part, report in zip(parts[1:], reports[1:]):
        if report["frontend"] != frontend:
            raise DataError(
                f"corpus '{part.corpus}' ({part.data_dir}) was prepared with text frontend {report['frontend']}, "
                f"'{parts[0].corpus}' with {frontend}; prepare every corpus with the same --g2p so they share one "
                f"phoneme vocabulary"
            )
    parameters = {
        "format": "mix", "seed": seed, "parts": [p.describe() for p in parts],
        "part_manifests_sha256": [
            [_digest(Path(p.data_dir) / f"cuts_{s}.jsonl.gz") for s in sorted(set(p.splits.values()))] for p in parts
        ],
    }
    manifests = {s: out_dir / f"cuts_{s}.jsonl.gz" for s in SPLITS}
    report_path = out_dir / REPORT_NAME
    if not force and report_path.is_file() and all(p.is_file() for p in manifests.values()):
        previous = json.loads(report_path.read_text())
        if previous.get("parameters") == parameters and previous.get("frontend") == frontend:
            print(f"already mixed: {previous['kept']} utterances in {out_dir} (force=True redoes it)")
            return {s: CutSet.from_file(p) for s, p in manifests.items()}

    mixed: dict[str, list[CutSet]] = {s: [] for s in SPLITS}
    corpora: dict[str, dict[str, Any]] = {}
    for part in parts:
        for target, source in part.splits.items():
            if target not in SPLITS:
                raise DataError(f"corpus '{part.corpus}': unknown mixed split {target!r}; use {', '.join(SPLITS)}")
            cuts = namespaced(load_cuts(part.data_dir, source), part.corpus)
            if target == "train":
                if part.train_fraction < 1.0:
                    cuts = take_fraction(cuts, part.train_fraction, seed)
                if part.repeat > 1:
                    cuts = CutSet.from_cuts(cuts.repeat(part.repeat))
            mixed[target].append(cuts)
            stats = corpora.setdefault(part.corpus, {"speakers": set()})
            stats[target] = stats.get(target, 0) + len(cuts)
            hours = stats.get(f"{target}_hours", 0.0) + sum(c.duration for c in cuts) / 3600
            stats[f"{target}_hours"] = round(hours, 4)
            stats["speakers"] |= {s.speaker for c in cuts for s in c.supervisions}

    result = {}
    for split, sets in mixed.items():
        sets = [s for s in sets if len(s)]
        if not sets:
            raise DataError(f"the mix has no {split} cuts: map some corpus' split to '{split}'")
        if split == "train" and len(sets) > 1:
            result[split] = CutSet.from_cuts(CutSet.mux(*sets, weights=[len(s) for s in sets], seed=seed))
        else:
            result[split] = combine(sets).to_eager()  # a list of manifests (one alone is not iterated)
    ids = Counter(c.id for cuts in result.values() for c in cuts)
    clashes = [i for i, k in ids.items() if k > 1]
    if clashes:
        raise DataError(
            f"{len(clashes)} cut ids occur more than once in the mix (e.g. {clashes[0]!r}); give the parts different "
            f"corpus names or map each part's split to one mixed split only"
        )

    out_dir.mkdir(parents=True, exist_ok=True)
    report_path.unlink(missing_ok=True)  # written last: a half-written mix never looks finished
    for split, cuts in result.items():
        cuts.to_file(manifests[split])
    report = {
        "parameters": parameters,
        "frontend": frontend,
        "kept": sum(len(c) for c in result.values()),
        "splits": {s: len(c) for s, c in result.items()},
        "hours": round(sum(c.duration for cuts in result.values() for c in cuts) / 3600, 4),
        "corpora": {name: {**{k: v for k, v in s.items() if k != "speakers"}, "speakers": sorted(s["speakers"])}
                    for name, s in corpora.items()},
    }
    report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"mixed {report['kept']} utterances ({', '.join(f'{k} {v}' for k, v in report['splits'].items())}) "
          f"from {', '.join(corpora)} -> {out_dir}")
    return result
