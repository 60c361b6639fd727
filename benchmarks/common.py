"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> str:
    """The datasets folder: $VAESTUDIO_DATA_DIR, else ../shared/datasets beside the checkout."""
    folder = os.environ.get("VAESTUDIO_DATA_DIR") or str(ROOT.parent / "shared" / "datasets")
    if not Path(folder, "MNIST", "raw").is_dir():
        sys.exit(f"MNIST not found under {folder}: set VAESTUDIO_DATA_DIR to a folder holding MNIST/raw/.")
    return folder


def trainer_rate(trainer, steps: int) -> float:
    """Our trainer's images a second (as it measures them) over its first `steps` steps; then it stops."""
    from vaestudio.core.models.history import StepProgress

    rate = 0.0
    for record in trainer.run():
        if isinstance(record, StepProgress):
            rate = record.samples_per_second
            if record.step == steps:
                trainer.control.stop()
    return rate


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[index]


def result_line(**figures: float) -> str:
    return "RESULT " + " ".join(f"{name}={value:.4g}" for name, value in figures.items())
