"""The convergence comparison: thresholds reached and held, several seeds per arm, runs that never get there."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tts.convergence import ComparisonError, compare, markdown, reached_and_held, write_comparison


def _rows(values: list[float], key: str = "scraps_score", every: int = 100) -> list[dict]:
    return [{"step": every * (i + 1), "train_seconds": 10.0 * (i + 1), key: v} for i, v in enumerate(values)]


def test_reached_and_held_needs_every_later_validation():
    above = lambda v: v >= 0.6  # noqa: E731
    assert reached_and_held(_rows([0.1, 0.7, 0.5, 0.65, 0.8]), "scraps_score", above) == {"step": 400,
                                                                                          "seconds": 40.0}
    assert reached_and_held(_rows([0.7, 0.8, 0.9]), "scraps_score", above)["step"] == 100
    assert reached_and_held(_rows([0.7, 0.8, 0.5]), "scraps_score", above) is None  # lost at the end
    assert reached_and_held(_rows([0.1, 0.2]), "scraps_score", above) is None
    below = lambda v: v <= 2.0  # noqa: E731  (a loss: lower is better)
    assert reached_and_held(_rows([3.0, 1.9, 2.1, 1.5], "loss"), "loss", below)["step"] == 400
    # rows without the figure (e.g. validations without a scorer) are not counted either way
    rows = _rows([0.1, 0.7, 0.8])
    del rows[2]["scraps_score"]
    assert reached_and_held(rows, "scraps_score", above)["step"] == 200


def _write_run(root: Path, name: str, seed: int, scraps: bool, score: list[float], recall: list[float],
               loss: list[float], focus: list[float]) -> Path:
    run = root / name
    run.mkdir(parents=True)
    cfg = {"exp_dir": str(run), "init_from_scraps": "/x/scraps/export" if scraps else None,
           "freeze_encoder_steps": 0, "train": {"seed": seed, "max_steps": 100 * len(score)}, "data": {"dir": "d"}}
    run.joinpath("config.yaml").write_text(yaml.safe_dump(cfg))
    rows = [{"step": 100 * (i + 1), "train_seconds": 30.0 * (i + 1), "scraps_score": s, "scraps_recall_at_1": r,
             "loss": lo, "focus_rate": f} for i, (s, r, lo, f) in enumerate(zip(score, recall, loss, focus))]
    run.joinpath("validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


@pytest.fixture()
def arms(tmp_path):
    """Three seeds per arm; the SCRAPS arm gets there two to three times sooner; one scratch seed never reaches
    recall 0.9."""
    scratch = [
        _write_run(tmp_path, "s0", 0, False, [0.2, 0.4, 0.5, 0.62, 0.7, 0.75], [0.1, 0.3, 0.6, 0.8, 0.9, 0.95],
                   [3, 2.5, 2.2, 2.0, 1.9, 1.8], [0.3, 0.5, 0.6, 0.6, 0.7, 0.7]),
        _write_run(tmp_path, "s1", 1, False, [0.2, 0.3, 0.55, 0.6, 0.66, 0.7], [0.1, 0.2, 0.5, 0.7, 0.85, 0.88],
                   [3, 2.6, 2.3, 2.1, 1.95, 1.82], [0.4, 0.45, 0.6, 0.6, 0.7, 0.7]),
        _write_run(tmp_path, "s2", 2, False, [0.3, 0.5, 0.6, 0.65, 0.7, 0.72], [0.2, 0.4, 0.7, 0.9, 0.92, 0.95],
                   [3, 2.4, 2.1, 1.95, 1.85, 1.78], [0.5, 0.6, 0.6, 0.7, 0.7, 0.7]),
    ]
    scraps = [
        _write_run(tmp_path, "p0", 0, True, [0.5, 0.61, 0.7, 0.75, 0.8, 0.8], [0.5, 0.9, 0.95, 0.95, 1, 1],
                   [2.8, 2.3, 2.0, 1.9, 1.8, 1.75], [0.6, 0.7, 0.7, 0.8, 0.8, 0.8]),
        _write_run(tmp_path, "p1", 1, True, [0.55, 0.65, 0.7, 0.75, 0.8, 0.8], [0.6, 0.92, 0.95, 1, 1, 1],
                   [2.7, 2.2, 2.0, 1.85, 1.8, 1.74], [0.7, 0.7, 0.7, 0.8, 0.8, 0.8]),
        _write_run(tmp_path, "p2", 2, True, [0.62, 0.7, 0.72, 0.75, 0.8, 0.8], [0.9, 0.95, 0.95, 1, 1, 1],
                   [2.6, 2.1, 1.9, 1.8, 1.75, 1.7], [0.7, 0.7, 0.8, 0.8, 0.8, 0.8]),
    ]
    return {"scratch": scratch, "scraps": scraps}


def test_speedup_over_seeds_and_runs_that_never_reach(arms, tmp_path):
    result = write_comparison(arms, tmp_path / "out")
    score = result["thresholds"]["SCRAPS score >= 0.6"]
    # scratch seeds hold 0.6 from steps 400, 400, 300; SCRAPS seeds from 200, 200, 100
    assert score["steps"]["scratch"] == {"reached": 3, "runs": 3, "mean": pytest.approx(1100 / 3), "min": 300,
                                         "max": 400}
    assert score["steps"]["scraps"]["mean"] == pytest.approx(500 / 3)
    assert score["speedup"] == pytest.approx(2.2) and score["ranges_apart"]
    assert score["seconds"]["scratch"]["mean"] == pytest.approx(110.0)
    recall = result["thresholds"]["recall@1 >= 0.9"]
    assert recall["steps"]["scratch"]["reached"] == 2 and recall["per_run"]["scratch"][1] is None
    assert recall["speedup"] is None  # a scratch seed never got there: no number, but a lower bound
    # scratch steps 500, 400 and (never: more than its last, 600); SCRAPS 200, 200, 100
    assert recall["speedup_more_than"] == pytest.approx(500 / (500 / 3)) and recall["ranges_apart"]
    loss = result["thresholds"]["scratch's final loss"]
    assert loss["condition"] == "loss <= 1.8"  # mean of the scratch runs' final losses (1.8, 1.82, 1.78)
    assert loss["steps"]["scratch"]["reached"] == 2  # seed 1 ends above the mean
    md = (tmp_path / "out" / "comparison.md").read_text()
    assert "not reached" not in md.split("recall@1")[0]
    assert "2 of 3 runs" in md and "2.2x" in md
    assert (tmp_path / "out" / "convergence.png").stat().st_size > 5000
    assert json.loads((tmp_path / "out" / "comparison.json").read_text())["arms"]["scraps"][0].endswith("p0")


def test_a_threshold_no_run_reaches_says_so(arms):
    arms = {"scratch": arms["scratch"][:1], "scraps": arms["scraps"][:1]}
    for run in arms["scratch"]:  # scores that never reach 0.6
        rows = [json.loads(line) for line in (run / "validation.jsonl").read_text().splitlines()]
        text = "".join(json.dumps({**r, "scraps_score": 0.3}) + "\n" for r in rows)
        (run / "validation.jsonl").write_text(text)
    result = compare(arms)
    score = result["thresholds"]["SCRAPS score >= 0.6"]
    assert score["speedup"] is None and score["speedup_more_than"] == pytest.approx(600 / 200)
    assert "not reached (0 of 1)" in markdown(result) and "> 3x" in markdown(result)
    for run in arms["scraps"]:  # neither arm gets there: no number at all
        rows = [json.loads(line) for line in (run / "validation.jsonl").read_text().splitlines()]
        (run / "validation.jsonl").write_text("".join(json.dumps({**r, "scraps_score": 0.3}) + "\n" for r in rows))
    score = compare(arms)["thresholds"]["SCRAPS score >= 0.6"]
    assert score["speedup"] is None and score["speedup_more_than"] is None and not score["ranges_apart"]


def test_runs_that_differ_in_more_than_init_and_seed_are_refused(arms, tmp_path):
    cfg_path = arms["scraps"][0] / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["data"]["dir"] = "other"
    cfg_path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ComparisonError, match="data.dir"):
        compare(arms)
    with pytest.raises(ComparisonError, match="given as a scratch run"):
        compare({"scratch": arms["scraps"][1:], "scraps": arms["scraps"][1:]})
    with pytest.raises(ComparisonError, match="not found"):
        compare({"scratch": [tmp_path / "nothing"], "scraps": arms["scraps"][1:]})
