"""Render the window on its Latent space tab (1440x900, offscreen) to docs/images/explorer.png for the README.

Uses the bundled 2-d model when it is there (else trains one for a few epochs) and MNIST
from $VAESTUDIO_DATA_DIR (or ../shared/datasets beside the checkout). The panel is shown as
a person would leave it: the decoded background on, a digit clicked, the cursor resting on
the map with its hover preview.

    QT_QPA_PLATFORM=offscreen VAESTUDIO_DATA_DIR=../shared/datasets .venv/bin/python docs/render_explorer.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["VAESTUDIO_HOME"] = tempfile.mkdtemp(prefix="vaestudio-render-")

import numpy as np  # noqa: E402
from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from vaestudio.core.data.datasets import load_dataset  # noqa: E402
from vaestudio.core.models.model_files import SavedModel  # noqa: E402
from vaestudio.core.models.networks import ModelConfig  # noqa: E402
from vaestudio.core.models.pretrained import default_bundled_model  # noqa: E402
from vaestudio.core.models.training_config import TrainingConfig  # noqa: E402
from vaestudio.core.training.trainer import Trainer  # noqa: E402
from vaestudio.gui.app import configure_application, create_main_window  # noqa: E402

WINDOW_SIZE = (1440, 900)


def data_dir() -> str:
    folder = os.environ.get("VAESTUDIO_DATA_DIR") or str(ROOT.parent / "shared" / "datasets")
    if not Path(folder, "MNIST", "raw").is_dir():
        sys.exit(f"MNIST not found under {folder}: set VAESTUDIO_DATA_DIR to a folder holding MNIST/raw/.")
    return folder


def quickly_trained(folder: str, epochs: int) -> SavedModel:
    print(f"no bundled model: training a 2-d MLP for {epochs} epochs", flush=True)
    config = TrainingConfig(dataset="mnist", model=ModelConfig("mlp", 2, 400), epochs=epochs, device="cpu")
    trainer = Trainer(config, load_dataset("mnist", data_dir=folder, download=False))
    for _ in trainer.run():
        pass
    return SavedModel(trainer.model.to("cpu").eval(), config, epochs, trainer.history, [str(d) for d in range(10)])


def wait_for(signal, timeout_ms: int = 120_000) -> None:
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "explorer.png"))
    parser.add_argument("--model", help="a model file (default: the bundled 2-d model)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs to train when there is no bundled model")
    args = parser.parse_args()
    folder = data_dir()

    app = QApplication.instance() or QApplication(sys.argv)
    configure_application(app)
    settings_folder = tempfile.mkdtemp(prefix="vaestudio-render-settings-")
    for settings_format in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(settings_format, QSettings.Scope.UserScope, settings_folder)

    path = args.model or default_bundled_model()
    if path:
        window = create_main_window(data_dir=folder, model_path=path)
    else:
        window = create_main_window(data_dir=folder)
        window.show_model(quickly_trained(folder, args.epochs), "trained")
    window.tabs.setCurrentIndex(window.workspace.map_tab)
    window.resize(*WINDOW_SIZE)
    window.show()
    panel = window.workspace.explorer
    if panel.result is None:
        wait_for(panel.mapUpdated)
    controls = panel.controls
    with_background = replace(controls.values(), background=True, background_range=3.0, background_cells=25,
                              point_size=3, opacity=0.55)
    controls.set_values(with_background)
    wait_for(panel.backgroundUpdated)
    panel.latent_map.view_box.setRange(xRange=(-3.4, 3.4), yRange=(-3.4, 3.4), padding=0)
    app.processEvents()

    viewport = panel.latent_map.plot.viewport()
    points, labels = panel.result.layout.points, panel.result.labels
    typical_zero = np.median(points[labels == 0], axis=0)  # click a typical 0: the middle of its cluster
    sample = int(np.argmin(((points - typical_zero) ** 2).sum(axis=1) + 1e9 * (labels != 0)))
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     panel.latent_map.map_to_widget(*points[sample]))
    QTest.mouseMove(viewport, panel.latent_map.map_to_widget(1.2, -1.3))
    loop = QEventLoop()
    QTimer.singleShot(300, loop.quit)
    loop.exec()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(args.out)
    print(f"wrote {args.out} ({window.width()}x{window.height()}); model: {path or 'trained here'}")
    panel.shutdown()
    window.close()


if __name__ == "__main__":
    main()
