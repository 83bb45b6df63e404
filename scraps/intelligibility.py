"""The SCRAPS score as an intelligibility metric, checked against an ASR's word error rate.

For every utterance of a test set and every condition of :func:`conditions` (clean audio; white noise at four SNRs;
a telephone band and a 1 kHz low-pass; time stretches to 0.7x and 1.3x speed; a transcript with 10 % or 30 % of its
words replaced) this computes the SCRAPS score of the (text, audio) pair and the ASR's word error rate, then the
Spearman correlation of the two over all (utterance, condition) pairs. A good intelligibility metric falls as the
WER rises: the correlation should be strongly negative.

One definition of WER serves every condition: the ASR's transcript of the pair's audio scored against the pair's
text. For the audio degradations the text is the true transcript and the audio is degraded; for a wrong transcript
the audio is clean and the text is the wrong one, so its WER is that of the clean-audio transcript against the wrong
text (the word edit rate between the wrong and the true transcript is reported beside it).

A pair the ASR cannot transcribe is counted, never fatal: an empty transcript counts as WER 1 (every word missed)
and stays in the correlation; an ASR error leaves the pair out. Pairs whose audio or text the model cannot take
(too short, too long, nothing to pronounce) are left out and counted likewise.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scraps.audio import AudioError
from scraps.data.prepare import DataError
from scraps.degrade import band_limit, replace_words, telephone, time_stretch, white_noise, words_of
from scraps.evaluation import (
    EvalSet,
    Recognizer,
    check_audio,
    embed_phoneme_ids,
    embed_waves,
    pair_scores,
    plot_score_vs_wer,
    seeded_generator,
    spearman,
    word_error_rate,
)
from scraps.model import ScrapsModel
from scraps.progress import progress as progress_bar
from scraps.text import TextError

SNRS_DB = (20, 10, 5, 0)
LOWPASS_HZ = 1000
STRETCH_SPEEDS = (0.7, 1.3)
WORD_RATES = (0.1, 0.3)
_NOISE, _WORDS = 10, 11  # seed keys of the random streams (apart from scraps.evaluation's)

DEFINITIONS = {
    "score": "SCRAPS score = cosine of the phonetic embedding of the pair's text and the acoustic embedding of its "
    "audio",
    "wer": "word error rate of the ASR transcript of the pair's audio against the pair's text (lower-cased, "
    "punctuation dropped); an empty transcript is WER 1",
    "noise": "white noise at the SNR over the whole clip (scraps.audio.augment.mix_at_snr); one noise draw per "
    "utterance, shared by all SNRs",
    "telephone": "zero-phase brick-wall band-pass, 300-3400 Hz (scraps.degrade.band_limit)",
    "lowpass": f"zero-phase brick-wall low-pass at {LOWPASS_HZ} Hz",
    "stretch": "played at the given speed, pitch kept: phase vocoder (torchaudio.functional.phase_vocoder, "
    "1024-point STFT, hop 256); 0.7 = slower",
    "words": "the true transcript (spoken form) with round(rate * words), at least 1, of its words replaced by other "
    "words of the test set's transcripts; audio clean; 'word_edit_rate' = WER of the wrong text against the true",
    "spearman": "Spearman rank correlation of score and WER over all scored (utterance, condition) pairs",
}


@dataclass(frozen=True)
class Condition:
    """One way of degrading a pair. ``audio`` maps (utterance index, clean wav (s,)) to the wav to score (None:
    the clean audio); ``word_rate`` (wrong-transcript conditions) is the share of words replaced in the text."""

    name: str
    kind: str
    audio: Callable[[int, torch.Tensor], torch.Tensor] | None = None
    word_rate: float | None = None


def conditions(seed: int) -> list[Condition]:
    """The graded conditions, clean first; random draws are seeded by (seed, condition, utterance)."""

    def noise(db: float) -> Callable[[int, torch.Tensor], torch.Tensor]:
        return lambda i, wav: white_noise(wav, db, seeded_generator(seed, _NOISE, i))

    def stretch(speed: float) -> Callable[[int, torch.Tensor], torch.Tensor]:
        return lambda i, wav: time_stretch(wav, speed)

    return [
        Condition("clean", "clean"),
        *[Condition(f"snr_{db}", "noise", noise(db)) for db in SNRS_DB],
        Condition("telephone", "band", lambda i, wav: telephone(wav)),
        Condition(f"lowpass_{LOWPASS_HZ}", "band", lambda i, wav: band_limit(wav, high_hz=LOWPASS_HZ)),
        *[Condition(f"stretch_{s}", "stretch", stretch(s)) for s in STRETCH_SPEEDS],
        *[Condition(f"words_{r}", "words", word_rate=r) for r in WORD_RATES],
    ]


def _transcribe(asr: Recognizer, wav: torch.Tensor) -> tuple[str | None, str | None]:
    """(transcript, None), or (None, the error) when the recogniser fails on this clip."""
    try:
        return asr.transcribe(wav), None
    except Exception as exc:  # a recogniser may fail on odd audio in many ways; the pair is counted and dropped
        return None, f"{type(exc).__name__}: {exc}".splitlines()[0]


def intelligibility(
    model: ScrapsModel,
    data: EvalSet,
    asr: Recognizer,
    seed: int = 0,
    batch_size: int = 16,
    max_utts: int | None = None,
    progress: bool = True,
    transcripts: Mapping[tuple[str, str], str] | None = None,
) -> dict[str, Any]:
    """Score and WER of the first ``max_utts`` utterances of ``data`` (all when None) under every condition.

    ``transcripts`` maps (cut id, condition name) to an ASR transcript already made (e.g. by a run with another
    model: the degraded audio depends on the cut, the condition and the seed only); those clips are not decoded again.
    Returns the report: ``pairs`` (one row per scored pair), ``conditions`` (means per condition), the Spearman
    correlations (all pairs, audio degradations only, per kind), and ``failures`` (pairs counted and how).
    """
    transcripts = transcripts or {}
    reused = 0
    n = min(len(data.waves), max_utts or len(data.waves))
    if n < 2:
        raise DataError(
            f"the intelligibility check needs at least 2 usable utterances, got {n} ({len(data.skipped)} skipped)"
        )
    refs, waves = data.references[:n], data.waves[:n]
    conds = conditions(seed)
    decoded = sum(c.word_rate is None for c in conds)
    bar = progress_bar(total=n * decoded, desc="asr", unit="clip", disable=not progress)
    failures: Counter = Counter()
    examples: dict[str, list[str]] = {}

    def fail(reason: str, where: str) -> None:
        failures[reason] += 1
        if len(examples.setdefault(reason, [])) < 5:
            examples[reason].append(where)

    frontend, vocabulary = model.frontend(), words_of(refs)
    e_p = embed_phoneme_ids(model, data.phoneme_ids[:n], batch_size)
    e_a_clean = embed_waves(model, waves, batch_size)
    clean_hyp: dict[int, str] = {}
    clean_score: dict[int, float] = {}
    pairs: list[dict[str, Any]] = []
    for k, cond in enumerate(conds):
        bar.set_postfix_str(cond.name)
        if cond.word_rate is None:  # audio degraded (or clean), true text
            usable: list[tuple[int, torch.Tensor]] = []
            for i, wav in enumerate(waves):
                new = cond.audio(i, wav) if cond.audio else wav
                try:
                    check_audio(new, model, f"{data.cut_ids[i]} ({cond.name})")
                    usable.append((i, new))
                except AudioError as exc:
                    fail("audio_unusable", str(exc))
                    bar.update()
            if not usable:
                continue
            index = [i for i, _ in usable]
            e_a = e_a_clean[index] if cond.audio is None else embed_waves(model, [w for _, w in usable], batch_size)
            scores = pair_scores(e_p[index], e_a).tolist()
            for (i, new), score in zip(usable, scores):
                if cond.audio is None:
                    clean_score[i] = score
                known = transcripts.get((data.cut_ids[i], cond.name))
                hyp, error = (known, None) if known is not None else _transcribe(asr, new)
                reused += known is not None
                bar.update()
                if error:
                    fail("asr_failed", f"{data.cut_ids[i]} ({cond.name}): {error}")
                    continue
                if not hyp.strip():
                    fail("no_hypothesis", f"{data.cut_ids[i]} ({cond.name})")
                if cond.audio is None:
                    clean_hyp[i] = hyp
                pairs.append({"cut_id": data.cut_ids[i], "condition": cond.name, "kind": cond.kind, "text": refs[i],
                              "hypothesis": hyp, "score": score, "wer": word_error_rate(refs[i], hyp),
                              "relative_change": _relative(score, clean_score.get(i))})
        else:  # clean audio, a wrong transcript
            usable_ids: list[tuple[int, str, list[int]]] = []
            for i in range(n):
                if i not in clean_hyp:  # the clean audio was not transcribed: nothing to compare the text with
                    fail("asr_failed", f"{data.cut_ids[i]} ({cond.name}): no clean transcript")
                    continue
                wrong = replace_words(refs[i], cond.word_rate, vocabulary, seeded_generator(seed, _WORDS, k, i))
                try:
                    usable_ids.append((i, wrong, model.encode_text(wrong, frontend)))
                except TextError as exc:
                    fail("text_unusable", f"{data.cut_ids[i]} ({cond.name}): {exc}")
            if not usable_ids:
                continue
            index = [i for i, _, _ in usable_ids]
            scores = pair_scores(embed_phoneme_ids(model, [ids for _, _, ids in usable_ids], batch_size),
                                 e_a_clean[index]).tolist()
            for (i, wrong, _), score in zip(usable_ids, scores):
                pairs.append({"cut_id": data.cut_ids[i], "condition": cond.name, "kind": cond.kind, "text": wrong,
                              "hypothesis": clean_hyp[i], "score": score, "wer": word_error_rate(wrong, clean_hyp[i]),
                              "word_edit_rate": word_error_rate(refs[i], wrong),
                              "relative_change": _relative(score, clean_score.get(i))})
    bar.close()
    report = _report(pairs, conds, n, len(data.skipped), failures, examples, asr.description, seed)
    return {**report, "n_reused_transcripts": reused}


def _relative(score: float, clean: float | None) -> float | None:
    """(score - clean) / |clean| (|clean| floored at 1e-6), or None without a clean score."""
    return None if clean is None else (score - clean) / max(abs(clean), 1e-6)


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 6) if values else None


def _report(pairs: list[dict[str, Any]], conds: list[Condition], n: int, n_skipped: int, failures: Counter,
            examples: dict[str, list[str]], engine: str, seed: int) -> dict[str, Any]:
    for row in pairs:
        for key in ("score", "wer", "word_edit_rate", "relative_change"):
            if row.get(key) is not None:
                row[key] = round(float(row[key]), 6)

    def rho(rows: list[dict[str, Any]]) -> float | None:
        value = spearman([r["score"] for r in rows], [r["wer"] for r in rows]) if len(rows) > 2 else None
        return None if value is None else round(value, 6)

    per_condition = {}
    for cond in conds:
        rows = [r for r in pairs if r["condition"] == cond.name]
        per_condition[cond.name] = {
            "kind": cond.kind, "n_pairs": len(rows),
            "mean_score": _mean([r["score"] for r in rows]), "mean_wer": _mean([r["wer"] for r in rows]),
            "mean_relative_change": _mean([r["relative_change"] for r in rows if r["relative_change"] is not None]),
            **({"mean_word_edit_rate": _mean([r["word_edit_rate"] for r in rows])} if cond.word_rate else {}),
        }
    kinds = sorted({c.kind for c in conds if c.kind != "clean"})
    return {
        "seed": seed,
        "asr": engine,
        "n_utterances": n,
        "n_skipped_cuts": n_skipped,
        "n_pairs": len(pairs),
        "spearman_score_wer": rho(pairs),
        "spearman_audio_only": rho([r for r in pairs if r["kind"] != "words"]),
        "spearman_by_kind": {k: rho([r for r in pairs if r["kind"] in ("clean", k)]) for k in kinds},
        "failures": dict(sorted(failures.items())),
        "failure_examples": examples,
        "conditions": per_condition,
        "definitions": DEFINITIONS,
        "pairs": pairs,
    }


def transcripts_of(report: dict[str, Any], seed: int, engine: str) -> dict[tuple[str, str], str]:
    """(cut id, condition) -> transcript of the audio-condition pairs of an earlier report made with the same seed
    and ASR; ValueError (naming the difference) otherwise."""
    if report.get("seed") != seed or report.get("asr") != engine:
        raise ValueError(
            f"its seed ({report.get('seed')}) or ASR ({str(report.get('asr'))[:40]}...) differs from this run's "
            f"({seed}, {engine[:40]}...): its degraded audio or transcripts are not this run's"
        )
    return {(r["cut_id"], r["condition"]): r["hypothesis"] for r in report.get("pairs", []) if r["kind"] != "words"}


def _markdown(report: dict[str, Any]) -> str:
    def num(x: float | None, fmt: str = ".3f") -> str:
        return "n/a" if x is None else format(x, fmt)

    failures = ", ".join(f"{k} {v}" for k, v in report["failures"].items()) or "none"
    lines = [
        "# SCRAPS score against ASR word error rate",
        "",
        f"Model `{report.get('model', '?')}`, {report['n_utterances']} utterances of `{report.get('cuts', '?')}` "
        f"({report['n_skipped_cuts']} cuts skipped), seed {report['seed']}; {report['n_pairs']} scored "
        f"(utterance, condition) pairs; pairs counted as ASR failures: {failures}.",
        "",
        f"**Spearman(score, WER) over all pairs: {num(report['spearman_score_wer'])}**; audio degradations only "
        f"{num(report['spearman_audio_only'])}; by kind (with the clean pairs): "
        + ", ".join(f"{k} {num(v)}" for k, v in report["spearman_by_kind"].items()) + ".",
        "",
        "| condition | pairs | mean score | mean relative change | mean WER |",
        "|---|---|---|---|---|",
    ]
    for name, c in report["conditions"].items():
        change = "n/a" if c["mean_relative_change"] is None else f"{100 * c['mean_relative_change']:+.1f} %"
        wer = num(c["mean_wer"])
        if "mean_word_edit_rate" in c:
            wer += f" (word edit rate {num(c['mean_word_edit_rate'])})"
        lines.append(f"| {name} | {c['n_pairs']} | {num(c['mean_score'])} | {change} | {wer} |")
    lines += ["", f"ASR: {report['asr']}.", "", "Definitions:", ""]
    lines += [f"- {k}: {v}" for k, v in report["definitions"].items()]
    return "\n".join(lines) + "\n"


def _plot(report: dict[str, Any], path: Path) -> None:
    markers = {"clean": "o", "noise": "s", "band": "^", "stretch": "D", "words": "x"}
    groups = {name: ([r["score"] for r in report["pairs"] if r["condition"] == name],
                     [r["wer"] for r in report["pairs"] if r["condition"] == name]) for name in report["conditions"]}
    rho = report["spearman_score_wer"]
    title = f"Spearman {'n/a' if rho is None else f'{rho:.3f}'} over {report['n_pairs']} (utterance, condition) pairs"
    plot_score_vs_wer(groups, title, path, ylabel="word error rate (ASR transcript against the scored text)",
                      markers={name: markers[c["kind"]] for name, c in report["conditions"].items()}, size=(7, 5))


def write_intelligibility_report(report: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write intelligibility.json, intelligibility.md and score_vs_wer.png to ``out_dir`` -> the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "intelligibility.json", out_dir / "intelligibility.md", out_dir / "score_vs_wer.png"]
    paths[0].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    paths[1].write_text(_markdown(report))
    _plot(report, paths[2])
    return paths
