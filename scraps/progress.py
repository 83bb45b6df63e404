"""Progress of long work: a live tqdm bar on a terminal, plain lines in a log.

On a terminal, :func:`progress` returns an ordinary ``tqdm`` bar. When its stream is not a terminal (a log file,
a pipe), it returns a :class:`LineProgress` with the same methods, which writes one line at each tenth of the
total and at least every 30 seconds of work, instead of the carriage-return updates that fill a log with
thousands of copies of the bar.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

from tqdm import tqdm

EVERY_FRACTION = 0.1  # a line at each tenth of the total
EVERY_SECONDS = 30.0  # and at least this often while updates come


def progress(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    initial: int = 0,
    leave: bool = True,
    disable: bool = False,
    file: IO[str] | None = None,
) -> Any:
    """A progress bar over ``iterable`` (or updated by hand up to ``total``), written to ``file`` (stderr).

    Supports what tqdm users call: iteration, ``update(n)``, ``set_postfix(**kw)``, ``set_postfix_str(s)``,
    ``write(text, file=...)``, ``close()`` and ``with``.
    """
    file = file if file is not None else sys.stderr
    if disable:
        return tqdm(iterable, total=total, disable=True)
    if _is_terminal(file):
        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave, file=file,
                    dynamic_ncols=True)
    return LineProgress(iterable, total=total, desc=desc, unit=unit, initial=initial, file=file)


def _is_terminal(file: IO[str]) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class LineProgress:
    """Progress as plain lines: ``desc: n/total (p %), elapsed, rate[, postfix]``.

    A line is written when the count reaches the next tenth of ``total``, when ``EVERY_SECONDS`` have passed
    since the last line, and on ``close()`` if the count moved since the last line.
    """

    def __init__(self, iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "it", initial: int = 0, file: IO[str] | None = None) -> None:
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.file = file if file is not None else sys.stderr
        self.n = self.initial = initial
        self.postfix = ""
        self.start = self.last_time = time.monotonic()
        self.last_n = initial
        self.closed = False
        self._step = max(1, round(total * EVERY_FRACTION)) if total else None
        self._next_mark = self._mark_after(initial)

    def _mark_after(self, n: int) -> int | None:
        return None if self._step is None else (n // self._step + 1) * self._step

    def __iter__(self) -> Iterator:
        try:
            for item in self.iterable or ():
                yield item
                self.update()
        finally:
            self.close()

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        at_mark = self._next_mark is not None and self.n >= self._next_mark
        if at_mark or now - self.last_time >= EVERY_SECONDS:
            self._line(now)

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def set_postfix_str(self, text: str = "") -> None:
        self.postfix = text

    @staticmethod
    def write(text: str, file: IO[str] | None = None, end: str = "\n") -> None:
        """Print a message (to stdout unless ``file``), as ``tqdm.write`` does."""
        (file if file is not None else sys.stdout).write(text + end)

    def close(self) -> None:
        if not self.closed and self.n != self.last_n:
            self._line(time.monotonic())
        self.closed = True

    def _line(self, now: float) -> None:
        elapsed = now - self.start
        done = self.n - self.initial
        count = f"{self.n}/{self.total} ({100 * self.n / self.total:.0f} %)" if self.total else f"{self.n}"
        rate = f"{done / elapsed:.3g} {self.unit}/s" if elapsed > 0 and done else f"? {self.unit}/s"
        parts = [count, f"{tqdm.format_interval(elapsed)} elapsed", rate] + ([self.postfix] if self.postfix else [])
        self.file.write(f"{self.desc + ': ' if self.desc else ''}{', '.join(parts)}\n")
        self.file.flush()
        self.last_time, self.last_n = now, self.n
        self._next_mark = self._mark_after(self.n)
