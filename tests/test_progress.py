"""scraps.progress: a tqdm bar on a terminal, plain lines (no carriage returns) in a log."""
from __future__ import annotations

import io

from tqdm import tqdm

import scraps.progress as progress_module
from scraps.progress import LineProgress, progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_tqdm_bar():
    bar = progress(total=10, desc="x", file=_Terminal())
    assert isinstance(bar, tqdm)
    bar.close()


def test_a_log_gets_a_line_at_each_tenth_and_at_the_end():
    log = io.StringIO()
    with progress(total=95, desc="train", unit="step", file=log) as bar:
        assert isinstance(bar, LineProgress)
        for step in range(95):
            bar.update()
            if step == 50:
                bar.set_postfix(loss="0.123")
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    counts = [int(line.split(": ", 1)[1].split("/", 1)[0]) for line in lines]
    assert counts == [10, 20, 30, 40, 50, 60, 70, 80, 90, 95]  # every tenth (rounded to 10 steps), then the end
    assert lines[0].startswith("train: 10/95 (11 %), ") and "step/s" in lines[0]
    assert lines[-1].endswith("loss=0.123")


def test_a_resumed_count_and_an_iterable(monkeypatch):
    log = io.StringIO()
    bar = progress(total=100, initial=45, desc="train", file=log)
    bar.update(3)  # 48: no mark passed
    bar.update(2)  # 50
    bar.close()
    bar.close()
    assert [line.split(",")[0] for line in log.getvalue().splitlines()] == ["train: 50/100 (50 %)"]

    log = io.StringIO()
    assert list(progress(range(3), desc="rows", file=log)) == [0, 1, 2]
    assert log.getvalue().splitlines()[-1].startswith("rows: 3/3 (100 %)")


def test_slow_work_gets_a_line_every_30_seconds(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: now[0])
    log = io.StringIO()
    bar = progress(total=1000, desc="slow", file=log)
    for _ in range(5):
        now[0] += 20.0
        bar.update()
    assert [line.split(",")[0] for line in log.getvalue().splitlines()] == ["slow: 2/1000 (0 %)", "slow: 4/1000 (0 %)"]
    assert "01:20 elapsed" in log.getvalue().splitlines()[-1]


def test_disabled_and_unknown_totals():
    log = io.StringIO()
    bar = progress(total=10, disable=True, file=log)
    bar.update(10)
    bar.close()
    assert log.getvalue() == ""
    with progress(desc="n", file=log) as bar:
        bar.update(7)
    assert log.getvalue().startswith("n: 7, ")


def test_messages_between_lines_go_where_asked():
    log, out = io.StringIO(), io.StringIO()
    with progress(total=4, desc="scoring", file=log) as bar:
        bar.write("row 3: skipped", file=out)
    assert out.getvalue() == "row 3: skipped\n" and log.getvalue() == ""
