"""Render the four explorer panels (interpolation, reconstruction, sliders, sketch pad) to PNGs.

Uses the bundled MNIST model (z = 20) and the MNIST test split, renders offscreen and
writes docs/images/panel-<name>.png:

    VAESTUDIO_DATA_DIR=/path/to/datasets python docs/render_panels.py [--model FILE] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PySide6.QtCore import QPointF, QThreadPool  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from vaestudio.core.data.datasets import load_dataset  # noqa: E402
from vaestudio.core.models.model_files import open_model  # noqa: E402
from vaestudio.gui.app import configure_application  # noqa: E402
from vaestudio.gui.model_session import ModelSession  # noqa: E402
from vaestudio.gui.panels.interpolation import InterpolationPanel  # noqa: E402
from vaestudio.gui.panels.reconstruction import ReconstructionPanel  # noqa: E402
from vaestudio.gui.panels.sketch import SketchPanel  # noqa: E402
from vaestudio.gui.panels.sliders import SlidersPanel  # noqa: E402

SIZE = (1100, 620)
SEVEN = [[(70, 70), (210, 66), (175, 140), (130, 230)], [(120, 150), (200, 148)]]  # a digit 7 in pad pixels


def settle(app: QApplication) -> None:
    """Let background scoring finish and its results arrive."""
    for _ in range(3):
        QThreadPool.globalInstance().waitForDone()
        app.processEvents()


def first_of_class(labels: np.ndarray, label: int, skip: int = 0) -> int:
    return int(np.flatnonzero(labels == label)[skip])


def render(panel, name: str, out: Path, app: QApplication) -> Path:
    settle(app)
    path = out / f"panel-{name}.png"
    panel.grab().save(str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "resources" / "pretrained" / "mnist-mlp-z20.safetensors"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    app = QApplication.instance() or QApplication(["render_panels"])
    configure_application(app)
    test = load_dataset("mnist", download=False).test
    labels = test.labels.numpy()
    session = ModelSession()
    session.load_saved(open_model(args.model), "bundled")
    written = []

    interpolation = InterpolationPanel(session)
    interpolation.set_test_data(test)
    interpolation.draw_test_image("A", first_of_class(labels, 3))
    interpolation.draw_test_image("B", first_of_class(labels, 8))
    interpolation.method_box.setCurrentIndex(interpolation.method_box.findData("slerp"))
    interpolation.steps_spin.setValue(12)
    interpolation.resize(*SIZE)
    interpolation.show()
    interpolation.strip.tileClicked.emit(5)
    written.append(render(interpolation, "interpolation", out, app))

    reconstruction = ReconstructionPanel(session)
    reconstruction.resize(*SIZE)
    reconstruction.show()
    reconstruction.set_test_data(test)
    settle(app)
    reconstruction.order_box.setCurrentIndex(reconstruction.order_box.findData("worst"))
    reconstruction.count_spin.setValue(30)
    reconstruction.grid.tileClicked.emit(0)
    written.append(render(reconstruction, "reconstruction", out, app))

    sliders = SlidersPanel(session)
    sliders.set_test_data(test)
    sliders.start_from_test_image(first_of_class(labels, 2))
    sliders.sliders[int(sliders.order[0])].setValue(-150)
    sliders.update_traversal()
    sliders.resize(SIZE[0], 700)
    sliders.show()
    written.append(render(sliders, "sliders", out, app))

    sketch = SketchPanel(session)
    sketch.resize(820, 720)
    sketch.show()
    sketch.set_test_data(test)
    settle(app)
    for stroke in SEVEN:
        sketch.canvas.begin_stroke(QPointF(*stroke[0]))
        for point in stroke[1:]:
            sketch.canvas.continue_stroke(QPointF(*point))
        sketch.canvas.end_stroke()
    sketch.canvas.setFocus()
    written.append(render(sketch, "sketch", out, app))

    for path in written:
        print(path)


if __name__ == "__main__":
    main()
