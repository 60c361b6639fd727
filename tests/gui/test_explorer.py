"""The latent explorer: clicks decode what the core decodes, data points show their sample, models refresh the map."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from vaestudio.core.data.datasets import load_dataset
from vaestudio.core.latent.space import (
    PCAProjection,
    decode_grid,
    decode_latents,
    encode_images,
)
from vaestudio.core.models.model_files import SavedModel
from vaestudio.core.models.networks import ModelConfig, build_model
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.gui.explorer.explorer_panel import ExplorerPanel
from vaestudio.gui.explorer.projection_controls import ExplorerSettings, load_settings
from vaestudio.gui.jobs import JobRunner
from vaestudio.gui.model_session import ModelSession
from vaestudio.gui.widgets import dialogs

TIMEOUT = 20_000


def saved_model(dataset: str, latent_dim: int, seed: int = 0, class_names: list[str] | None = None) -> SavedModel:
    torch.manual_seed(seed)
    model = build_model(ModelConfig("mlp", latent_dim, 32)).eval()
    return SavedModel(model, TrainingConfig(dataset=dataset, model=model.config),
                      class_names=class_names if class_names is not None else ["a", "b", "c", "d"])


@pytest.fixture
def session(tiny_dataset):
    session = ModelSession()
    session.load_saved(saved_model(tiny_dataset, 4))
    return session


@pytest.fixture
def make_panel(qtbot):
    panels = []

    def make(session: ModelSession, wait: bool = True) -> ExplorerPanel:
        panel = ExplorerPanel(session)
        qtbot.addWidget(panel)
        panel.resize(1300, 700)  # its map wider than tall, as in the window (the previews and settings take ~500)
        panel.show()
        panels.append(panel)
        if wait:
            qtbot.waitUntil(lambda: panel.result is not None, timeout=TIMEOUT)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()


def click(panel: ExplorerPanel, x: float, y: float) -> QPoint:
    """A real left click on the map's viewport at map point (x, y)."""
    pixel = panel.latent_map.map_to_widget(x, y)
    QTest.mouseClick(panel.latent_map.plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pixel)
    return pixel


def on_pixel(panel: ExplorerPanel, x: float, y: float) -> tuple[float, float]:
    """The map point of the pixel that shows (x, y): where a click there really lands."""
    pixel = panel.latent_map.map_to_widget(x, y)
    point = panel.latent_map.view_box.mapSceneToView(panel.latent_map.plot.mapToScene(pixel))
    return point.x(), point.y()


def empty_spot(panel: ExplorerPanel) -> tuple[float, float]:
    """A map point (on a whole pixel) inside the view with no data point drawn under it."""
    (x0, x1), (y0, y1) = panel.latent_map.view_range()
    for fx in np.linspace(0.1, 0.9, 9):
        for fy in np.linspace(0.1, 0.9, 9):
            x, y = on_pixel(panel, x0 + fx * (x1 - x0), y0 + fy * (y1 - y0))
            if panel.latent_map.point_at(x, y) < 0:
                return x, y
    raise AssertionError("no empty spot on the map")


def test_clicking_the_map_decodes_the_plane_point_pca_inverse_included(session, make_panel, qtbot) -> None:
    panel = make_panel(session)
    assert panel.settings.projection == "pca"
    plane = panel.plane()
    assert isinstance(plane, PCAProjection)
    x, y = empty_spot(panel)
    with qtbot.waitSignal(panel.pointChosen) as chosen:
        click(panel, x, y)
    z = plane.to_latent(np.array([[x, y]]))[0]  # a full 4-d vector on the PCA plane
    np.testing.assert_allclose(chosen.args[0], z, atol=1e-5)
    np.testing.assert_allclose(panel.decoded.image(), decode_latents(session.model, z[None])[0], atol=1e-6)
    assert f"({x:.2f}, {y:.2f})" in panel.decoded.caption()
    # The PCA plane is the one of the encoded means the map shows.
    images = load_dataset(session.training.dataset, download=False).test.images
    mu = encode_images(session.model, images).mu
    np.testing.assert_allclose(plane.origin, mu.mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(panel.latent_map.points, PCAProjection(mu).to_map(mu), atol=1e-4)


def test_clicking_a_data_point_shows_that_sample(session, make_panel, qtbot) -> None:
    panel = make_panel(session)
    splits = load_dataset(session.training.dataset, download=False)
    index = 5
    row = int(np.flatnonzero(panel.result.indices == index)[0])
    x, y = map(float, panel.result.layout.points[row])
    panel.latent_map.view_box.setRange(xRange=(x - 0.05, x + 0.05), yRange=(y - 0.05, y + 0.05), padding=0)
    with qtbot.waitSignal(panel.sampleChosen) as chosen:
        click(panel, x, y)
    assert chosen.args == [index]
    original = splits.test.images[index].numpy().astype(np.float32) / 255
    np.testing.assert_allclose(panel.sample_view.original.image(), original, atol=1e-6)
    reconstruction = decode_latents(session.model, encode_images(session.model, splits.test.images[index:index + 1]).mu)
    np.testing.assert_allclose(panel.sample_view.reconstruction.image(), reconstruction[0], atol=1e-6)
    label = int(splits.test.labels[index])
    assert f"#{index}" in panel.sample_view.caption() and f"<b>{'abcd'[label]}</b>" in panel.sample_view.caption()


def test_loading_another_model_refreshes_the_map(session, make_panel, qtbot) -> None:
    panel = make_panel(session)
    before = panel.latent_map.points.copy()
    with qtbot.waitSignal(panel.mapUpdated, timeout=TIMEOUT):
        session.load_saved(saved_model(session.training.dataset, 6, seed=1))
    assert panel.result.mu.shape[1] == 6
    images = load_dataset(session.training.dataset, download=False).test.images
    np.testing.assert_allclose(panel.result.mu, encode_images(session.model, images).mu, atol=1e-5)
    assert not np.allclose(panel.latent_map.points, before)
    assert panel.controls.first.maximum() == 6


def test_a_two_dimensional_model_shows_its_own_axes(tiny_dataset, make_panel) -> None:
    session = ModelSession()
    session.load_saved(saved_model(tiny_dataset, 2))
    panel = make_panel(session)
    assert panel.settings.projection == "latent"
    assert panel.latent_map.plot_item.getAxis("bottom").labelText == "z1"
    assert panel.latent_map.plot_item.getAxis("left").labelText == "z2"
    np.testing.assert_allclose(panel.latent_map.points, panel.result.mu, atol=1e-6)
    x, y = empty_spot(panel)
    click(panel, x, y)
    np.testing.assert_allclose(panel.decoded.image(), decode_latents(session.model, np.array([[x, y]]))[0], atol=1e-6)


def zoom_by_hand(panel: ExplorerPanel, notches: int) -> None:
    """Turn the mouse wheel over the middle of the map, as a person zooming in."""
    viewport = panel.latent_map.plot.viewport()
    middle = QPointF(viewport.width() / 2, viewport.height() / 2)
    QApplication.sendEvent(viewport, QWheelEvent(middle, viewport.mapToGlobal(middle), QPoint(), QPoint(0, 120 * notches),
                                                 Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                                                 Qt.ScrollPhase.NoScrollPhase, False))


def test_new_weights_re_encode_in_place_and_keep_the_view(session, make_panel, qtbot) -> None:
    panel = make_panel(session)
    framed = panel.latent_map.view_range()
    zoom_by_hand(panel, 3)
    view = panel.latent_map.view_range()
    assert view[0][1] - view[0][0] < 0.9 * (framed[0][1] - framed[0][0])
    trained = build_model(session.model.config)
    with qtbot.waitSignal(panel.mapUpdated, timeout=TIMEOUT):
        session.update_weights(trained.state_dict(), epoch=1)
    images = load_dataset(session.training.dataset, download=False).test.images
    np.testing.assert_allclose(panel.result.mu, encode_images(trained, images).mu, atol=1e-5)
    # The pan and zoom stay. (With the aspect locked, the y span may follow the tick labels' width.)
    (x0, x1), (y0, y1) = panel.latent_map.view_range()
    assert (x0, x1) == pytest.approx(view[0], abs=1e-9)
    assert (y0 + y1) / 2 == pytest.approx(sum(view[1]) / 2, abs=1e-9)
    assert y1 - y0 == pytest.approx(view[1][1] - view[1][0], rel=0.1)


def test_new_weights_reframe_a_view_nobody_moved(session, make_panel, qtbot) -> None:
    panel = make_panel(session)
    with qtbot.waitSignal(panel.mapUpdated, timeout=TIMEOUT):  # a plane that moves with the means (PCA would not)
        panel.controls.projection.setCurrentIndex(panel.controls.projection.findData("dimensions"))
    spread = build_model(session.model.config)
    with torch.no_grad():
        spread.encoder_mu.bias += 25.0  # the means move far from where the view is
    with qtbot.waitSignal(panel.mapUpdated, timeout=TIMEOUT):
        session.update_weights(spread.state_dict(), epoch=1)
    (x0, x1), (y0, y1) = panel.latent_map.view_range()
    x, y = np.median(panel.latent_map.points, axis=0)
    assert x0 < x < x1 and y0 < y < y1


def test_dimension_projection_and_decoded_background(session, make_panel, qtbot) -> None:
    panel = make_panel(session)
    settings = panel.settings
    with qtbot.waitSignal(panel.backgroundUpdated, timeout=TIMEOUT):
        panel.controls.set_values(ExplorerSettings(**{**settings.__dict__, "projection": "dimensions", "first": 2,
                                                      "second": 0, "background": True, "background_range": 2.0,
                                                      "background_cells": 5}))
    qtbot.waitUntil(lambda: panel.plane() is not None and getattr(panel.plane(), "dimensions", None) == (2, 0))
    assert panel.latent_map.plot_item.getAxis("bottom").labelText == "z3"
    np.testing.assert_allclose(panel.latent_map.points, panel.result.mu[:, [2, 0]], atol=1e-6)
    picture = panel.latent_map.background.image
    expected = decode_grid(session.model, panel.plane(), 5, 5, 2.0)
    # The item holds the picture upside down (row 0 at the bottom of a y-up plot).
    np.testing.assert_allclose(picture[::-1], expected, atol=1e-6)
    rect = panel.latent_map.background.mapRectToParent(panel.latent_map.background.boundingRect())
    assert rect.left() == pytest.approx(-2.5) and rect.right() == pytest.approx(2.5)


def test_settings_are_remembered(session, make_panel, qtbot) -> None:
    panel = make_panel(session)
    with qtbot.waitSignal(panel.mapUpdated, timeout=TIMEOUT):
        panel.controls.point_size.setValue(9)
        panel.controls.projection.setCurrentIndex(panel.controls.projection.findData("dimensions"))
    remembered = load_settings(4)
    assert remembered.projection == "dimensions" and remembered.point_size == 9
    assert load_settings(2).projection == "latent"  # 2-d models remember their own choice
    again = make_panel(session)
    assert again.settings.projection == "dimensions" and again.controls.point_size.value() == 9


def test_tsne_is_a_view_whose_clicks_snap_to_the_nearest_point(session, make_panel, qtbot) -> None:
    panel = make_panel(session)
    with qtbot.waitSignal(panel.mapUpdated, timeout=TIMEOUT):
        panel.controls.perplexity.setValue(5)
        panel.controls.projection.setCurrentIndex(panel.controls.projection.findData("tsne"))
    assert panel.plane() is None and "t-SNE" in panel.status.text()
    assert not panel.controls.background.isEnabled()
    points = panel.result.layout.points
    x, y = points[3] + 0.3 * (points[3] - points.mean(axis=0)) / 10
    nearest = int(np.argmin(((points - [x, y]) ** 2).sum(axis=1)))
    with qtbot.waitSignal(panel.sampleChosen) as chosen:
        click(panel, x, y)
    row = int(panel.result.layout.rows[nearest])
    assert chosen.args == [int(panel.result.indices[row])]
    np.testing.assert_allclose(panel._latent, panel.result.mu[row])
    np.testing.assert_allclose(panel.decoded.image(), decode_latents(session.model, panel.result.mu[row][None])[0],
                               atol=1e-6)
    # New weights at an epoch end refine the embedding shown rather than start a new one.
    before = panel.result.layout.points.copy()
    state = {name: value + 0.01 * torch.randn_like(value) for name, value in session.model.state_dict().items()}
    with qtbot.waitSignal(panel.mapUpdated, timeout=TIMEOUT):
        session.update_weights(state, epoch=1)
    assert panel.plane() is None
    assert np.abs(panel.result.layout.points - before).max() < 0.25 * np.abs(before).max()


def test_without_data_the_map_says_so_and_the_decoder_still_works(tmp_path, tiny_dataset, make_panel, qtbot) -> None:
    session = ModelSession()
    session.load_saved(saved_model(f"idx:{tmp_path / 'nothing-here'}", 3))
    panel = make_panel(session, wait=False)
    qtbot.waitUntil(lambda: panel.dataset_error is not None, timeout=TIMEOUT)
    assert panel.latent_map.banner.isVisible()
    assert "No test images" in panel.latent_map.banner_text.text()
    assert panel.latent_map.plot_item.getAxis("bottom").labelText == "z1"
    x, y = on_pixel(panel, 0.5, -1.0)
    click(panel, x, y)
    np.testing.assert_allclose(panel.decoded.image(), decode_latents(session.model, np.array([[x, y, 0.0]]))[0],
                               atol=1e-6)
    with qtbot.waitSignal(panel.pointChosen) as chosen:
        panel.sample_button.click()
    assert chosen.args[0].shape == (3,)
    # The banner's "Open dataset folder…": a folder of IDX files fills the map.
    with qtbot.waitSignal(panel.mapUpdated, timeout=TIMEOUT):
        panel.open_dataset_folder(tiny_dataset.partition(":")[2])
    assert not panel.latent_map.banner.isVisible() and len(panel.latent_map.points) == 64


def test_a_folder_that_is_no_dataset_shows_a_dialog_and_keeps_the_map(session, make_panel, qtbot, tmp_path) -> None:
    panel = make_panel(session)
    spec, points = panel.dataset_spec, len(panel.latent_map.points)
    folder = tmp_path / "holiday-photos"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a dataset")
    with qtbot.waitSignal(dialogs.error_reporter.shown) as shown:
        panel.open_dataset_folder(folder)
    assert shown.args[0] == "This folder cannot be used as a dataset."
    assert "neither the four MNIST-format IDX files nor class sub-folders" in shown.args[1]
    assert panel.dataset_spec == spec and panel.dataset_error is None and len(panel.latent_map.points) == points


def test_hover_shows_a_small_decoded_preview(session, make_panel, qtbot) -> None:
    panel = make_panel(session)
    x, y = empty_spot(panel)
    pixel = panel.latent_map.map_to_widget(x, y)
    QTest.mouseMove(panel.latent_map.plot.viewport(), pixel)
    qtbot.waitUntil(panel.latent_map.hover_label.isVisible, timeout=TIMEOUT)
    shown = panel.latent_map.hover_label.pixmap().toImage()
    assert shown.width() == 28 * 3
    expected = decode_latents(session.model, panel.plane().to_latent(np.array([[x, y]])))[0]
    grey = np.array([[shown.pixelColor(3 * column + 1, 3 * row + 1).red() for column in range(28)]
                     for row in range(28)])
    assert np.abs(grey / 255 - expected).max() < 0.1


def test_a_newer_job_cancels_the_running_one_and_only_its_result_counts(qtbot) -> None:
    runner = JobRunner()
    started, stopped_early = threading.Event(), threading.Event()
    results = []
    runner.finished.connect(lambda kind, result: results.append(result))

    def slow(cancel, report):
        started.set()
        for step in range(1_000_000):
            if not report(step / 1_000_000):
                stopped_early.set()
                return "old"
            cancel.wait(0.001)
        return "old, finished"

    runner.submit("map", slow)
    qtbot.waitUntil(started.is_set)
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        runner.submit("map", lambda cancel, report: "new")
    assert results == ["new"] and stopped_early.is_set()
    runner.shutdown()


def test_the_explorer_reads_only_the_test_split(session, make_panel, monkeypatch) -> None:
    from vaestudio.core.data import datasets

    read = []
    real_read = datasets._read_splits
    monkeypatch.setattr(datasets, "_read_splits", lambda files, splits, progress: (
        read.append(tuple(splits)), real_read(files, splits, progress))[1])
    panel = make_panel(session)
    assert read == [("test",)]  # the 60,000 training images of MNIST are not read for the map
    assert len(panel.images) == 64 and len(panel.result.indices) == 64


def test_a_map_computed_for_the_previous_model_is_not_shown_for_the_next(session, make_panel, qtbot) -> None:
    """A map job (or the first points' preview) of the model shown before finishes after another model of another
    latent size is opened, with a point chosen on it: the late map is dropped, the marker is not drawn from it, and
    the new model's own map follows (found by the monkey test: 'operands could not be broadcast (1,2) (20,)')."""
    panel = make_panel(session)
    stale = panel.result  # 4-d means and plane
    with qtbot.waitSignal(panel.mapUpdated, timeout=TIMEOUT):
        session.load_saved(saved_model(session.training.dataset, 2, seed=1))
    panel.sample_prior()  # a 2-d point is chosen and marked
    fresh = panel.result
    panel._apply_map(stale)  # the old model's map arrives late
    assert panel.result is fresh and panel.result.mu.shape[1] == 2
    panel.result = stale  # and were a 4-d plane current for a moment, a 2-d point is not marked on it
    panel._mark(panel._latent)
    assert all(marker.getData()[0] is None or len(marker.getData()[0]) == 0 for marker in panel.latent_map.markers)
