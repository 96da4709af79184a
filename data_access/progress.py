"""Progress of the long first-start steps (demo generation, mart refresh, model training) as one line per step.

A line per step, with the step's number and the time so far, reads the same in a terminal and in a log file (a
progress bar redrawn with carriage returns leaves one endless line in a log)."""
from __future__ import annotations

import sys
import time


class Steps:
    """``Steps(10, "demo bank")``; ``step("customers")`` prints ``demo bank [ 3/10] customers … (12 s)``.

    Offers ``set_postfix_str`` and ``update`` too, so code written for a tqdm bar reports through it unchanged."""

    def __init__(self, total: int | None, label: str, enabled: bool = True, stream=None):
        self.total, self.label, self.enabled = total, label, enabled
        self.stream = stream or sys.stdout
        self.done = 0
        self.started = time.perf_counter()

    def announce(self, what: str) -> None:
        """Say that step number ``done + 1`` starts."""
        if not self.enabled:
            return
        n = self.done + 1
        of = f"[{n:>{len(str(self.total))}}/{self.total}] " if self.total else ""
        print(f"{self.label} {of}{what} … ({time.perf_counter() - self.started:.0f} s)", file=self.stream, flush=True)

    def step(self, what: str) -> None:
        """Announce the next step and count it."""
        self.announce(what)
        self.done += 1

    set_postfix_str = announce  # tqdm's names: announce, then update() when the step is done

    def update(self, n: int = 1) -> None:
        self.done += n

    def close(self, summary: str | None = None) -> None:
        if self.enabled and summary:
            print(f"{self.label}: {summary} ({time.perf_counter() - self.started:.1f} s)", file=self.stream, flush=True)
