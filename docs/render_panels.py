"""Render the four explorer panels (interpolation, reconstruction, sliders, sketch pad) to PNGs.

Uses the bundled MNIST model (z = 20) and the MNIST test split, opens the window at 1440x900
offscreen and grabs each tool as it shows under the map there (the tools' tab area), into
docs/images/panel-<name>.png:

    VAESTUDIO_DATA_DIR=/path/to/datasets python docs/render_panels.py [--model FILE] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PySide6.QtCore import QEventLoop, QPointF, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from vaestudio.gui.app import configure_application, create_main_window  # noqa: E402

WINDOW_SIZE = (1440, 900)
SEVEN = [[(70, 70), (210, 66), (175, 140), (130, 230)], [(120, 150), (200, 148)]]  # a digit 7 in pad pixels


def settle(app: QApplication, ms: int = 1500) -> None:
    """Let background jobs (scoring, traversal) finish and their results arrive."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()
    app.processEvents()


def first_of_class(labels: np.ndarray, label: int, skip: int = 0) -> int:
    return int(np.flatnonzero(labels == label)[skip])


def render(window, panel, name: str, out: Path, app: QApplication) -> Path:
    window.workspace.tools.setCurrentWidget(panel)
    settle(app)
    path = out / f"panel-{name}.png"
    window.workspace.tools.grab().save(str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "resources" / "pretrained" / "mnist-mlp-z20.safetensors"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    app = QApplication.instance() or QApplication(["render_panels"])
    for settings_format in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(settings_format, QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="vaestudio-render-"))
    configure_application(app)
    window = create_main_window(data_dir=os.environ.get("VAESTUDIO_DATA_DIR"), model_path=args.model)
    window.resize(*WINDOW_SIZE)
    window.show()
    workspace = window.workspace
    while workspace.test_data is None:
        settle(app, 200)
    test = workspace.test_data
    labels = test.labels.numpy()
    written = []

    interpolation = workspace.interpolation
    interpolation.draw_test_image("A", first_of_class(labels, 3))
    interpolation.draw_test_image("B", first_of_class(labels, 8))
    interpolation.method_box.setCurrentIndex(interpolation.method_box.findData("slerp"))
    interpolation.steps_spin.setValue(12)
    workspace.tools.setCurrentWidget(interpolation)
    settle(app, 200)
    interpolation.strip.tileClicked.emit(5)
    written.append(render(window, interpolation, "interpolation", out, app))

    reconstruction = workspace.reconstruction
    workspace.tools.setCurrentWidget(reconstruction)
    settle(app)
    reconstruction.order_box.setCurrentIndex(reconstruction.order_box.findData("worst"))
    reconstruction.grid.tileClicked.emit(0)
    written.append(render(window, reconstruction, "reconstruction", out, app))

    sliders = workspace.sliders
    sliders.start_from_test_image(first_of_class(labels, 2))
    sliders.sliders[int(sliders.order[0])].setValue(-150)
    sliders.update_traversal()
    written.append(render(window, sliders, "sliders", out, app))

    sketch = workspace.sketch
    workspace.tools.setCurrentWidget(sketch)
    settle(app)
    for stroke in SEVEN:
        sketch.canvas.begin_stroke(QPointF(*stroke[0]))
        for point in stroke[1:]:
            sketch.canvas.continue_stroke(QPointF(*point))
        sketch.canvas.end_stroke()
    sketch.canvas.setFocus()
    written.append(render(window, sketch, "sketch", out, app))

    for path in written:
        print(path)
    workspace.explorer.shutdown()
    window.close()


if __name__ == "__main__":
    main()
