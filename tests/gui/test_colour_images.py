"""Colour models in the window: image widgets, the map coloured by a factor, the sketch pad's ink, the Run form."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage

from vaestudio.core.data import shapes
from vaestudio.core.latent.space import decode_grid
from vaestudio.core.models.history import EpochResult, EvaluationResult
from vaestudio.core.models.model_files import SavedModel
from vaestudio.core.models.networks import ModelConfig, build_model
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.gui.explorer.explorer_panel import ExplorerPanel
from vaestudio.gui.explorer.projection_controls import ExplorerSettings
from vaestudio.gui.model_session import ModelSession
from vaestudio.gui.panels.sketch import INK_COLOURS, SketchPanel
from vaestudio.gui.training.run_panel import TrainingPanel
from vaestudio.gui.widgets.image_preview import to_qimage
from vaestudio.gui.widgets.image_strip import ImageGrid, side_by_side

TIMEOUT = 20_000


def shapes_session(size: int = 32, latent_dim: int = 4) -> ModelSession:
    torch.manual_seed(0)
    model = build_model(ModelConfig("conv", latent_dim, 32, image_size=size, channels=3)).eval()
    session = ModelSession()
    session.load_saved(SavedModel(model, TrainingConfig(dataset="shapes", model=model.config),
                                  class_names=list(shapes.SHAPE_NAMES)))
    return session


def test_to_qimage_takes_grayscale_and_colour_in_either_layout() -> None:
    gray = to_qimage(np.full((28, 28), 0.5, np.float32))
    assert gray.format() == QImage.Format.Format_Grayscale8 and QColor(gray.pixel(3, 3)).red() == 128
    picture = np.zeros((32, 32, 3), np.float32)
    picture[..., 0], picture[..., 2] = 1.0, 0.25
    for image in (picture, np.moveaxis(picture, 2, 0), np.round(picture * 255).astype(np.uint8)):
        shown = to_qimage(image)
        assert (shown.width(), shown.height()) == (32, 32)
        assert QColor(shown.pixel(5, 7)).getRgb()[:3] == (255, 0, 64)
    assert QColor(to_qimage(np.full((1, 28, 28), 1.0)).pixel(0, 0)).red() == 255
    with pytest.raises(ValueError, match="neither"):
        to_qimage(np.zeros((28, 28, 2)))


def test_image_grid_shows_colour_pairs(qtbot) -> None:
    grid = ImageGrid(columns=2)
    qtbot.addWidget(grid)
    left = np.zeros((2, 32, 32, 3), np.float32)
    left[..., 1] = 1.0
    pairs = side_by_side(left, left)
    assert pairs.shape == (2, 32, 65, 3)
    grid.set_images(pairs)
    grid.resize(300, 150)
    grid.show()
    assert grid.count() == 2 and grid.images().shape == (2, 32, 65, 3)
    shown = grid.grab().toImage()
    greens = [QColor(shown.pixel(x, y)).getRgb()[:3] for x in range(0, 300, 7) for y in range(0, 150, 7)]
    assert (0, 255, 0) in greens


def test_the_map_colours_points_by_a_shapes_factor(tmp_path, qtbot) -> None:
    shapes.make_shapes(tmp_path, size=32, count=80, seed=2)
    session = shapes_session()
    panel = ExplorerPanel(session, data_dir=tmp_path)
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    try:
        qtbot.waitUntil(lambda: panel.result is not None, timeout=TIMEOUT)
        assert panel.images.shape == (8, 32, 32, 3) and panel.factors is not None
        assert panel.colour_box.isVisible()
        assert [panel.colour_box.itemText(i) for i in range(panel.colour_box.count())] == [
            "label", "shape", "colour", "scale", "rotation", "x", "y"]
        placed = panel.result.indices[panel.result.layout.rows]
        assert panel.latent_map._class_names == list(shapes.SHAPE_NAMES)
        panel.colour_box.setCurrentText("colour")
        assert panel.colour_by() == "colour"
        assert panel.latent_map._class_names == list(shapes.COLOUR_NAMES)
        assert panel.latent_map._colour(0).getRgb()[:3] == shapes.COLOURS["red"]
        expected = panel.factors.column("colour")[placed].astype(np.int64)
        assert np.array_equal(panel.latent_map.labels, expected)
        panel.colour_box.setCurrentText("x")
        assert len(panel.latent_map._class_names) == 8 and panel.latent_map._colour(0) != panel.latent_map._colour(7)
        assert panel.latent_map.labels.max() <= 7
        panel.colour_box.setCurrentText("label")
        assert panel.latent_map._colours is None
        with qtbot.waitSignal(panel.backgroundUpdated, timeout=TIMEOUT):  # the decoded background is in colour
            panel.controls.set_values(ExplorerSettings(**{**panel.settings.__dict__, "projection": "dimensions",
                                                          "background": True, "background_cells": 5}))
        qtbot.waitUntil(lambda: panel.plane() is not None and getattr(panel.plane(), "dimensions", None) == (0, 1))
        picture = panel.latent_map.background.image
        assert picture.shape == (5 * 32, 5 * 32, 3)
        np.testing.assert_allclose(picture[::-1], decode_grid(session.model, panel.plane(), 5, 5, 3.0), atol=1e-6)
    finally:
        panel.shutdown()


def test_sketch_pad_draws_in_the_chosen_colour_for_a_colour_model(qtbot) -> None:
    session = shapes_session(size=64)
    panel = SketchPanel(session)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.canvas.image_size == 64 and panel.canvas.side == 256
    assert panel.ink_box.isVisible() and not panel.mnist_box.isVisible()
    panel.ink_box.setCurrentText("blue")
    panel.canvas.brush = 6.0
    panel.canvas.begin_stroke(QPointF(60, 128))
    panel.canvas.continue_stroke(QPointF(200, 128))
    panel.canvas.end_stroke()
    assert panel.pixels.shape == (64, 64, 3)
    centre = panel.pixels[32, 32].astype(int)
    assert np.abs(centre - np.array(INK_COLOURS["blue"])).max() <= 2
    assert panel.mu is not None and panel.mu.shape == (4,)
    assert panel.reconstruction_preview.image().shape == (64, 64, 3)
    gray = ModelSession()
    gray.load_saved(SavedModel(build_model(ModelConfig("mlp", 4, 32)).eval(), TrainingConfig()))
    gray_panel = SketchPanel(gray)
    qtbot.addWidget(gray_panel)
    gray_panel.show()
    assert gray_panel.canvas.image_size == 28 and not gray_panel.ink_box.isVisible()
    assert gray_panel.canvas.ink_colour == QColor(255, 255, 255)


def test_run_form_image_size_and_channels(qtbot) -> None:
    form = TrainingPanel()
    qtbot.addWidget(form)
    config = form.config()
    assert config.image_size is None and config.channels is None
    form.image_size.setCurrentIndex(form.image_size.findData(64))
    form.channels.setCurrentIndex(form.channels.findData(3))
    form.model_kind.setCurrentIndex(form.model_kind.findData("auto"))
    config = form.config()
    assert (config.image_size, config.channels, config.model.kind) == (64, 3, "auto")
    form.set_config(TrainingConfig(image_size=32, channels=1))
    assert form.image_size.currentData() == 32 and form.channels.currentData() == 1
    test = EvaluationResult(loss=2000.0, reconstruction=1990.0, kl=10.0, dimensions=3072)
    form.show_epoch(EpochResult(1, 2, 2100.0, 2090.0, 10.0, test, 1.0, 100.0))
    assert "2000.00 nats (0.9393 bits/dim)" in form.status_label.text()


def test_traversal_rows_name_the_factor_each_dimension_follows(tmp_path, qtbot) -> None:
    from vaestudio.core.data.datasets import load_dataset
    from vaestudio.gui.panels.sliders import SlidersPanel

    shapes.make_shapes(tmp_path, size=32, count=200, seed=1)
    test = load_dataset("shapes", data_dir=tmp_path).test
    session = shapes_session()
    panel = SlidersPanel(session)
    qtbot.addWidget(panel)
    panel.show()
    with qtbot.waitSignal(panel.traversalShown, timeout=TIMEOUT):
        panel.set_test_data(test)
    assert panel.followed_factors is not None and len(panel.followed_factors) == 4
    assert set(panel.followed_factors) <= set(shapes.FACTOR_NAMES) | {""}
    assert panel.traversal.images().shape[-1] == 3
    assert "factor each dimension follows" in panel.traversal_label.text()


def test_the_window_trains_a_colour_model_of_the_datas_shape(window, qtbot, tiny_config, tmp_path) -> None:
    """Model kind "auto" and the image shape resolve from the data: the session shows a conv network for 32x32
    colour pictures, and its map, panels and file agree."""
    from PIL import Image

    from vaestudio.core.models.model_files import open_model
    from vaestudio.core.models.networks import ConvVAE

    rng = np.random.default_rng(0)
    for label in ("red", "blue"):
        (tmp_path / "pics" / label).mkdir(parents=True)
        for index in range(12):
            picture = rng.integers(0, 50, (40, 40, 3)).astype(np.uint8)
            picture[10:30, 10:30, 0 if label == "red" else 2] = 230
            Image.fromarray(picture).save(tmp_path / "pics" / label / f"{index}.png")
    config = tiny_config(epochs=1, dataset=f"images:{tmp_path / 'pics'}", model=ModelConfig("auto", 3, 16),
                         batch_size=8)
    shown = []
    window.epochFinished.connect(lambda *args: shown.append(window.panel.status_label.text()))
    run = window.start_training(config)
    with qtbot.waitSignal(run.ended, timeout=60_000) as ended:
        pass
    assert ended.args == ["completed"]
    model = window.session.model
    assert isinstance(model, ConvVAE) and (model.config.image_size, model.config.channels) == (32, 3)
    assert window.session.training.model.kind == "conv"
    saved = open_model(run.request.model_path)
    assert (saved.config.kind, saved.config.image_size, saved.config.channels) == ("conv", 32, 3)
    assert len(shown) == 1 and "nats (" in shown[0] and "bits/dim)" in shown[0]


def test_the_export_dialogs_traversal_names_the_factors_as_the_cli_does(tmp_path, qtbot) -> None:
    from dataclasses import replace

    from vaestudio.core.data.datasets import load_dataset
    from vaestudio.core.latent.sheets import make_sheet, traversal_factor_labels
    from vaestudio.gui.widgets.export_dialog import ExportDialog

    shapes.make_shapes(tmp_path, size=32, count=200, seed=1)
    test = load_dataset("shapes", data_dir=tmp_path).test
    session = shapes_session()
    model = session.model
    found = ExportDialog(session, test, kind="traversal")  # finds the factors itself
    given = ExportDialog(session, test, kind="traversal", followed_factors=["scale", "", "x", "colour"])
    for dialog in (found, given):
        qtbot.addWidget(dialog)
    spec = found.spec()
    plain = make_sheet(model, spec).picture
    labels = traversal_factor_labels(model, spec, test.images, test.factors)
    assert np.array_equal(found.sheet.picture, make_sheet(model, replace(spec, row_labels=labels)).picture)
    named = traversal_factor_labels(model, spec, test.images, test.factors, ["scale", "", "x", "colour"])
    assert any(label.endswith(("scale", "colour")) for label in named)
    assert np.array_equal(given.sheet.picture, make_sheet(model, replace(spec, row_labels=named)).picture)
    assert given.sheet.picture.shape[1] > plain.shape[1]  # a margin for the names
    given.format_box.setCurrentIndex(given.format_box.findData("gif"))  # animated frames carry no labels
    assert given.sheet.frames and np.array_equal(given.sheet.picture, plain)
