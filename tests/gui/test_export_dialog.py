"""File > Export…: the preview is exactly what Save writes; plots export as PNG and SVG."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
import torch
from PIL import Image
from PySide6.QtGui import QImage
from PySide6.QtSvg import QSvgRenderer
from tiny_data import tiny_splits

from vaestudio.core.errors import ExportError
from vaestudio.core.latent.image_files import encode_png
from vaestudio.core.latent.sheets import SheetSpec, make_sheet
from vaestudio.core.latent.space import PCAProjection
from vaestudio.core.models.model_files import SavedModel
from vaestudio.core.models.networks import ModelConfig, build_model
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.gui.model_session import ModelSession
from vaestudio.gui.widgets import dialogs
from vaestudio.gui.widgets.export_dialog import ExportDialog
from vaestudio.gui.widgets.plot_export import export_plot

LATENT = 3


def pixmap_array(label) -> np.ndarray:
    image = label.pixmap().toImage().convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    return np.frombuffer(image.constBits(), np.uint8).reshape(height, image.bytesPerLine())[:, :3 * width] \
        .reshape(height, width, 3).copy()


@pytest.fixture
def session():
    torch.manual_seed(0)
    config = ModelConfig("mlp", LATENT, 16)
    session = ModelSession()
    session.load_saved(SavedModel(build_model(config).eval(), TrainingConfig(model=config)), "file")
    return session


@pytest.fixture
def dialog(qtbot, session):
    widget = ExportDialog(session, tiny_splits(train=8, test=40).test)
    qtbot.addWidget(widget)
    return widget


def test_the_preview_is_the_array_that_save_writes(dialog, tmp_path):
    dialog.rows_spin.setValue(2)
    dialog.cols_spin.setValue(3)
    dialog.scale_spin.setValue(2)
    dialog.seed_spin.setValue(5)
    shown = pixmap_array(dialog.preview)
    expected = make_sheet(dialog.session.model, SheetSpec(rows=2, cols=3, scale=2, padding=2, seed=5)).picture
    assert shown.shape == (2 * 58 + 2, 3 * 58 + 2, 3) and np.array_equal(shown, expected)
    assert dialog.info.text() == "176 x 118 pixels"
    path = tmp_path / "sheet.png"
    assert dialog.save_to(path)
    assert path.read_bytes() == encode_png(expected)
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), shown)


def test_controls_change_the_preview(dialog):
    dialog.colormap_box.setCurrentIndex(dialog.colormap_box.findData("gray_r"))
    dialog.background_box.setCurrentText("white")
    picture = pixmap_array(dialog.preview)
    assert tuple(picture[0, 0]) == (255, 255, 255)
    dialog.background_box.setCurrentText("#zzzzzz")
    assert "is not a colour" in dialog.preview.text() and not dialog.save_button.isEnabled()
    dialog.background_box.setCurrentText("black")
    assert dialog.save_button.isEnabled() and dialog.sheet is not None


def test_gif_only_for_interpolation_and_traversal(dialog, tmp_path):
    gif_item = dialog.format_box.model().item(1)
    assert dialog.kind == "samples" and not gif_item.isEnabled()
    dialog.set_kind("traversal")
    assert gif_item.isEnabled() and dialog.rows_spin.value() == LATENT
    dialog.cols_spin.setValue(5)
    dialog.format_box.setCurrentIndex(1)
    assert dialog.timer.isActive() and dialog.info.text().startswith("5 frames of")
    path = tmp_path / "traversal.gif"
    assert dialog.save_to(path)
    assert Image.open(path).n_frames == 5
    dialog.set_kind("manifold")
    assert dialog.format == "png" and not gif_item.isEnabled() and not dialog.timer.isActive()


def test_reconstructions_need_test_data(qtbot, session):
    widget = ExportDialog(session)
    qtbot.addWidget(widget)
    assert not widget.kind_box.model().item(3).isEnabled()
    widget.set_test_data(tiny_splits(train=8, test=40).test)
    assert widget.kind_box.model().item(3).isEnabled()
    widget.set_kind("reconstructions")
    assert pixmap_array(widget.preview).shape == (2 * 4 * 58 + 2, 8 * 58 + 2, 3)  # scale 2 by default


def test_without_a_model_it_waits_for_one(qtbot):
    session = ModelSession()
    widget = ExportDialog(session)
    qtbot.addWidget(widget)
    assert "No model yet" in widget.preview.text() and not widget.save_button.isEnabled()
    config = ModelConfig("mlp", 2, 16)
    session.load_saved(SavedModel(build_model(config).eval(), TrainingConfig(model=config)))
    assert widget.save_button.isEnabled() and widget.sheet is not None
    assert (widget.first_dim.minimum(), widget.first_dim.maximum()) == (1, 2)  # z1..z2, numbered from 1
    assert widget.first_dim.text() == "z1" and widget.second_dim.text() == "z2"


def test_the_explorer_plane_is_used_for_the_manifold(qtbot, session):
    projection = PCAProjection(np.random.default_rng(0).normal(size=(30, LATENT)))
    widget = ExportDialog(session, kind="manifold", projection=projection)
    qtbot.addWidget(widget)
    spec = SheetSpec(kind="manifold", rows=15, cols=15, scale=2, projection=projection)
    assert np.array_equal(pixmap_array(widget.preview), make_sheet(session.model, spec).picture)
    widget.context_box.setChecked(False)
    assert not np.array_equal(pixmap_array(widget.preview), make_sheet(session.model, spec).picture)


def test_a_failed_save_shows_the_message_and_leaves_no_file(dialog, qtbot, tmp_path):
    with qtbot.waitSignal(dialogs.error_reporter.shown) as shown:
        assert not dialog.save_to(tmp_path / "sheet.gif")
    assert "A samples sheet is a still image: save it as .png" in shown.args[1]
    with qtbot.waitSignal(dialogs.error_reporter.shown) as shown:
        assert not dialog.save_to(tmp_path / "sheet.bmp")
    assert "Cannot write a sheet as '.bmp'" in shown.args[1]
    assert list(tmp_path.iterdir()) == []


def test_export_plot_writes_png_and_svg(qtbot, tmp_path):
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    plot.resize(320, 240)
    plot.plot([0, 1, 2, 3], [3, 1, 2, 0], pen="r")
    png = export_plot(plot, tmp_path / "loss.png", width=400)
    assert Image.open(png).format == "PNG" and Image.open(png).size[0] == 400
    svg = export_plot(plot.getPlotItem(), tmp_path / "loss.svg")
    assert "<svg" in svg.read_text() and QSvgRenderer(str(svg)).isValid()
    with pytest.raises(ExportError, match="Cannot write a plot as '.jpg': name the file with .png or .svg"):
        export_plot(plot, tmp_path / "loss.jpg")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["loss.png", "loss.svg"]
