"""Choosing torch's CPU thread count for a training run by measuring it, while it runs.

On a small machine the best count depends on what else runs: with every core free, two
threads train faster than one; once another thread or program takes a core (a GUI thread
drawing, a browser), OpenMP threads that wait for each other can make two threads several
times slower than one (measured on a 2-core machine: about 5,000 against 15,000 images/s).
So the tuner times a short window with each candidate now and then and keeps the faster.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def cpu_cores() -> int:
    """Cores this process may use."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def single_torch_thread() -> None:
    """Run torch on one CPU thread in the calling thread, and in new threads that do not choose.

    For a process where one thread trains on several cores and others (a GUI thread, a
    background job) use torch now and then. GNU OpenMP, torch's CPU threading on Linux, lets
    its idle workers spin between parallel regions only while it manages no more threads than
    there are cores. A second thread that once ran a parallel region keeps its own team, and
    from then on every worker sleeps at once and must be woken for each of the forty-odd
    parallel regions of a training step. Measured on 2 cores: 35,000 images/s for a training
    thread on 2 threads, 21,000 once the main thread had run one parallel operation.
    """
    # torch gives each thread its count on the thread's first parallel use, copied from the count set last
    # by any thread (later the training thread's); asking for it now settles this thread's first
    torch.get_num_threads()
    torch.set_num_threads(1)


def thread_candidates(cores: int | None = None) -> list[int]:
    """Leave one core to the rest of the machine, or use them all."""
    cores = cores or cpu_cores()
    return sorted({max(1, cores - 1), cores})


class ThreadTuner:
    """Call `step_done(samples)` after every training step; it switches threads between steps.

    Each probe gives every candidate `warmup_steps` steps to settle, then times it for at
    least `probe_seconds` (and `min_probe_steps` steps). The winner runs until the next probe,
    `interval_seconds` later; the interval doubles (up to `max_interval_seconds`) each time the
    same count wins again, so a settled run spends almost no time on the slower choice.
    """

    def __init__(self, candidates: list[int], *, probe_seconds: float = 0.3, min_probe_steps: int = 4,
                 warmup_steps: int = 2, interval_seconds: float = 5.0, max_interval_seconds: float = 80.0,
                 clock: Callable[[], float] = time.perf_counter,
                 apply: Callable[[int], None] = torch.set_num_threads) -> None:
        self.candidates = list(candidates)
        self.probe_seconds, self.min_probe_steps, self.warmup_steps = probe_seconds, min_probe_steps, warmup_steps
        self.interval, self.max_interval = interval_seconds, max_interval_seconds
        self.clock, self.apply = clock, apply
        self.rates: dict[int, float] = {}
        self.current = self.candidates[-1]
        self._winner: int | None = None
        self._queue: list[int] = []
        self._state = "running"
        self._steps, self._samples, self._started, self._next_probe = 0, 0, 0.0, 0.0
        if len(self.candidates) > 1:
            self._start_probe()

    def _start_probe(self) -> None:
        # The current count goes first: no switch is needed to measure it.
        self._queue = [count for count in self.candidates if count != self.current]
        self._begin(self.current)

    def _begin(self, count: int) -> None:
        self.current = count
        self.apply(count)
        self._state, self._steps = "warmup", 0

    def step_done(self, samples: int) -> None:
        if len(self.candidates) < 2:
            return
        now = self.clock()
        if self._state == "running":
            if now >= self._next_probe:
                self._start_probe()
            return
        self._steps += 1
        if self._state == "warmup":
            if self._steps >= self.warmup_steps:
                self._state, self._steps, self._samples, self._started = "timing", 0, 0, now
            return
        self._samples += samples
        elapsed = now - self._started
        if elapsed < self.probe_seconds or self._steps < self.min_probe_steps:
            return
        self.rates[self.current] = self._samples / elapsed
        if self._queue:
            self._begin(self._queue.pop(0))
        else:
            self._finish_probe(now)

    def _finish_probe(self, now: float) -> None:
        best = max(self.candidates, key=lambda count: self.rates.get(count, 0.0))
        if best == self._winner:
            self.interval = min(self.interval * 2, self.max_interval)
        self._winner = best
        if best != self.current:
            self.current = best
            self.apply(best)
        self._state, self._next_probe = "running", now + self.interval
