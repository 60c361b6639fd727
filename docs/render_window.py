"""Render the VAE Studio window mid-training to docs/images/window-training.png (for the README).

Trains an MLP VAE on MNIST in the window (offscreen unless a display is set) and grabs the
window halfway through epoch 4, while training goes on.

    QT_QPA_PLATFORM=offscreen VAESTUDIO_DATA_DIR=../shared/datasets .venv/bin/python docs/render_window.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["VAESTUDIO_HOME"] = tempfile.mkdtemp(prefix="vaestudio-render-")

from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from vaestudio.core.models.networks import ModelConfig  # noqa: E402
from vaestudio.core.models.training_config import TrainingConfig  # noqa: E402
from vaestudio.gui.app import configure_application, create_main_window  # noqa: E402
from vaestudio.gui.widgets.dialogs import error_reporter  # noqa: E402


def render(out: Path, dataset: str, epochs_done: int, size: tuple[int, int], log_scale: bool = False) -> Path:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    for settings_format in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(settings_format, QSettings.Scope.UserScope, os.environ["VAESTUDIO_HOME"])
    configure_application(app)
    app.setOrganizationName("VAE Studio Render")
    window = create_main_window()
    window.close_policy = "discard"
    window.resize(*size)
    window.show()
    config = TrainingConfig(dataset=dataset, model=ModelConfig("mlp", 20, 400), epochs=10, batch_size=128,
                            device="cpu")
    window.panel.set_config(config)
    window.tabs.setCurrentWidget(window.training_view)  # the window opens on the map when a model is bundled
    window.loss_plot.set_log_scale(log_scale)
    loop = QEventLoop()
    errors: list[str] = []
    error_reporter.shown.connect(lambda title, message: (errors.append(f"{title} {message}"), loop.quit()))

    def maybe_grab(_count: int) -> None:
        epochs = len(window.history.epochs)
        batches = window.run.info.batches_per_epoch if window.run and window.run.info else 1
        into_epoch = len(window.history.step_loss) - epochs * batches
        if epochs >= epochs_done and into_epoch >= batches // 2:
            loop.quit()

    window.stepsShown.connect(maybe_grab)
    run = window.start_training(config)
    if run is None:
        raise SystemExit("render_window: training did not start")
    run.ended.connect(loop.quit)
    QTimer.singleShot(600_000, loop.quit)
    loop.exec()
    if errors:
        raise SystemExit(f"render_window: {errors[0]}")
    window.loss_plot.redraw()
    app.processEvents()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        raise SystemExit(f"render_window: could not write {out}")
    window.stepsShown.disconnect(maybe_grab)
    window.shutdown()  # stops the run and waits for its thread
    window.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "window-training.png")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--epochs-done", type=int, default=3, help="grab halfway through the epoch after these")
    parser.add_argument("--size", default="1440x900")
    parser.add_argument("--log-scale", action="store_true", help="show the loss on a log scale")
    args = parser.parse_args()
    width, height = (int(value) for value in args.size.lower().split("x"))
    try:
        print(render(args.out, args.dataset, args.epochs_done, (width, height), args.log_scale))
    finally:
        shutil.rmtree(os.environ["VAESTUDIO_HOME"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
