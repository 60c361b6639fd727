"""Render the latent map of a shapes model, its points coloured by one of the known factors, for the README.

The explorer is shown offscreen as a person would set it: the model's test shapes encoded,
"Colour by" set to the factor, the decoded background on (a PCA plane), a point clicked.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/render_shapes_map.py MODEL --data-dir DIR \
        [--factor colour] [--out docs/images/shapes-map-colour.png]
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

from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from render_explorer import wait_for  # noqa: E402  (the same wait, beside this script)

from vaestudio.core.models.model_files import open_model  # noqa: E402
from vaestudio.gui.app import configure_application  # noqa: E402
from vaestudio.gui.explorer.explorer_panel import ExplorerPanel  # noqa: E402
from vaestudio.gui.model_session import ModelSession  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model trained on --dataset shapes")
    parser.add_argument("--data-dir", required=True, help="the folder `vaestudio data make shapes` wrote into")
    parser.add_argument("--factor", default="colour", help="shape, colour, scale, rotation, x or y")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = args.out or str(ROOT / "docs" / "images" / f"shapes-map-{args.factor}.png")

    app = QApplication.instance() or QApplication(sys.argv)
    configure_application(app)
    settings_folder = tempfile.mkdtemp(prefix="vaestudio-render-settings-")
    for settings_format in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(settings_format, QSettings.Scope.UserScope, settings_folder)

    session = ModelSession()
    session.load_saved(open_model(args.model), "file")
    panel = ExplorerPanel(session, data_dir=args.data_dir)
    panel.setWindowTitle("VAE Studio: latent explorer")
    panel.resize(1440, 900)
    panel.show()
    wait_for(panel.mapUpdated)
    panel.colour_box.setCurrentText(args.factor)
    if panel.colour_by() != args.factor:
        sys.exit(f"the model's dataset has no factor {args.factor!r}")
    controls = panel.controls
    controls.set_values(replace(controls.values(), projection="pca", background=True, background_range=2.5,
                                background_cells=15, point_size=5, opacity=0.8))
    wait_for(panel.backgroundUpdated)
    app.processEvents()
    panel.show_sample(0, mark=True)
    loop = QEventLoop()
    QTimer.singleShot(300, loop.quit)
    loop.exec()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    panel.grab().save(out)
    print(f"wrote {out} ({panel.width()}x{panel.height()}), points coloured by {args.factor}")
    panel.shutdown()


if __name__ == "__main__":
    main()
