"""Responsiveness of the explorer's live paths: dragging a latent slider and drawing on the sketch pad.

Each sample is one decode-and-show on the GUI thread, timed from the input until the
event loop has painted the result (an event filter sees the Paint event):

- slider: `QSlider.setValue` (what a drag delivers) -> write the coordinate, decode one
  image, show it -> the preview painted;
- sketch: one stroke segment drawn on the pad (as a mouse move does) -> the pad's
  coalescing timer fires -> the drawing made a 28x28 image (fitted like MNIST), encoded,
  decoded, its nearest test images found among the 10,000 encoded MNIST test means and
  shown -> the reconstruction painted (with the pad's dirty part and the neighbours).

The bundled MNIST MLP (z = 20) is used when present, else a freshly initialised network of
the same size (the same cost). The goal is p95 <= 16 ms (one frame at 60 Hz).

    VAESTUDIO_DATA_DIR=/path/to/datasets python benchmarks/panel_latency.py [--samples 400]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402
from common import ROOT, data_dir, percentile, result_line  # noqa: E402
from PySide6.QtCore import QEvent, QEventLoop, QObject, QPointF  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from vaestudio.core.data.datasets import load_dataset  # noqa: E402
from vaestudio.core.models.model_files import SavedModel, open_model  # noqa: E402
from vaestudio.core.models.networks import ModelConfig, build_model  # noqa: E402
from vaestudio.core.models.training_config import TrainingConfig  # noqa: E402
from vaestudio.gui.app import configure_application  # noqa: E402
from vaestudio.gui.model_session import ModelSession  # noqa: E402
from vaestudio.gui.panels.sketch import CANVAS_SIDE, SketchPanel  # noqa: E402
from vaestudio.gui.panels.sliders import SlidersPanel  # noqa: E402

BUNDLED = ROOT / "resources" / "pretrained" / "mnist-mlp-z20.safetensors"
WARM_UP = 30


class PaintCounter(QObject):
    """Counts the Paint events a widget receives."""

    def __init__(self, widget) -> None:
        super().__init__()
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def until_painted(app: QApplication, counter: PaintCounter) -> None:
    """Run the event loop until the counted widget has been painted once more."""
    target = counter.count + 1
    for _ in range(100):
        app.processEvents()
        if counter.count >= target:
            return
    raise SystemExit("the widget was never repainted: the measurement would not include showing the result")


def load_session() -> tuple[ModelSession, str]:
    session = ModelSession()
    if BUNDLED.is_file():
        session.load_saved(open_model(BUNDLED), "bundled")
        return session, BUNDLED.name
    torch.manual_seed(0)
    model = build_model(ModelConfig("mlp", 20, 400))
    session.load_saved(SavedModel(model.eval(), TrainingConfig(model=model.config)))
    return session, "an untrained 784-400-20 MLP"


def time_slider(app: QApplication, session: ModelSession, test, samples: int) -> list[float]:
    panel = SlidersPanel(session)
    panel.set_test_data(test)
    panel.resize(1100, 700)
    panel.show()
    app.processEvents()
    slider = panel.sliders[int(panel.order[0])]
    painted = PaintCounter(panel.preview.canvas)
    times = []
    for step in range(samples + WARM_UP):
        phase = (step * 7 + 3) % 1200  # a drag back and forth over the whole range, never twice the same value
        value = phase - 300 if phase < 600 else 900 - phase
        started = time.perf_counter()
        slider.setValue(value)
        until_painted(app, painted)
        elapsed = time.perf_counter() - started
        if step >= WARM_UP:
            times.append(elapsed * 1000)
        if step % 40 == 0:
            panel.update_traversal()  # as after a pause in the drag, outside the timed part
    panel.close()
    return times


def time_sketch(app: QApplication, session: ModelSession, test, samples: int) -> list[float]:
    panel = SketchPanel(session)
    panel.resize(820, 720)
    panel.show()
    scored = QEventLoop()
    panel.test_scores.ready.connect(scored.quit)
    panel.set_test_data(test)  # the test split is encoded for neighbours as a job of the panel's runner
    if panel.test_scores.scores is None:
        scored.exec()
    app.processEvents()
    canvas = panel.canvas
    painted = PaintCounter(panel.reconstruction_preview.canvas)
    times = []
    centre, radius = CANVAS_SIDE / 2, CANVAS_SIDE * 0.3
    canvas.begin_stroke(QPointF(centre + radius, centre))
    for step in range(samples + WARM_UP):
        if step % 60 == 59:  # a new digit now and then, so the pad never fills up
            canvas.end_stroke()
            canvas.clear()
            canvas.begin_stroke(QPointF(centre + radius, centre))
        angle = step / 6
        point = QPointF(centre + radius * math.cos(angle) * (1 - step % 60 / 90), centre + radius * math.sin(angle))
        started = time.perf_counter()
        canvas.continue_stroke(point)
        until_painted(app, painted)
        elapsed = time.perf_counter() - started
        if step >= WARM_UP:
            times.append(elapsed * 1000)
    canvas.end_stroke()
    if panel.neighbours.size == 0:
        raise SystemExit("the sketch pad found no neighbours: the test set was not encoded")
    panel.close()
    return times


def summary(name: str, times: list[float]) -> str:
    return (f"{name}: {len(times)} samples, median {statistics.median(times):.2f} ms, "
            f"p95 {percentile(times, 95):.2f} ms, max {max(times):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(["panel_latency"])
    configure_application(app)
    test = load_dataset("mnist", data_dir=data_dir(), download=False).test
    session, model_name = load_session()
    print(f"model: {model_name}; torch threads: {torch.get_num_threads()}; test images: {len(test)}")
    slider = time_slider(app, session, test, args.samples)
    print(summary("slider drag (decode + show)", slider))
    sketch = time_sketch(app, session, test, args.samples)
    print(summary("sketch stroke (encode + decode + neighbours + show)", sketch))
    print(result_line(slider_p95_ms=percentile(slider, 95), sketch_p95_ms=percentile(sketch, 95)))


if __name__ == "__main__":
    main()
