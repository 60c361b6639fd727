"""The explorer's t-SNE and UMAP views: progress and Cancel, UMAP's approximate inverse of a click,
placing the sketch's mean in a view, and choosing UMAP without umap-learn."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from test_explorer import TIMEOUT, click, empty_spot, saved_model
from test_workspace import workspace  # noqa: F401 (a fixture)

from vaestudio.core.latent import embeddings
from vaestudio.core.latent.embeddings import NEIGHBOUR_SHARE, UMAPView
from vaestudio.core.latent.space import PCAProjection
from vaestudio.gui.explorer.explorer_panel import ExplorerPanel
from vaestudio.gui.model_session import ModelSession
from vaestudio.gui.widgets import dialogs


class LinearReducer:
    """A stand-in for a fitted umap.UMAP (the attributes and methods UMAPView uses) that maps through a
    PCA plane, so that the GUI's handling of UMAP is tested without umap-learn and its minute of compiling."""

    def __init__(self, latents: np.ndarray) -> None:
        self.plane = PCAProjection(latents)
        self.embedding_ = self.plane.to_map(latents)

    def transform(self, latents: np.ndarray) -> np.ndarray:
        return self.plane.to_map(latents)

    def inverse_transform(self, points: np.ndarray) -> np.ndarray:
        return self.plane.to_latent(points)


@pytest.fixture
def panel(qtbot, tiny_dataset):
    """An explorer of a 4-d model's 64 tiny test images, on its first map (PCA)."""
    session = ModelSession()
    session.load_saved(saved_model(tiny_dataset, 4))
    panel = ExplorerPanel(session)
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=TIMEOUT)
    yield panel
    panel.shutdown()


def choose(panel, kind: str) -> None:
    panel.controls.projection.setCurrentIndex(panel.controls.projection.findData(kind))


def test_a_tsne_shows_its_progress_and_cancel_stops_it(panel, qtbot, monkeypatch) -> None:
    shown = panel.latent_map.points.copy()
    gate, stopped, answers = threading.Event(), threading.Event(), []
    real = embeddings.VIEW_BUILDERS["tsne"]

    def held_tsne(latents, config, init, progress):
        """The real t-SNE, held at its first report of the optimisation until the test has pressed Cancel."""
        def watched(fraction: float) -> bool:
            answers.append(progress(fraction))
            if not answers[-1]:
                stopped.set()
            elif fraction > NEIGHBOUR_SHARE:
                gate.wait(TIMEOUT / 1000)
            return answers[-1]
        return real(latents, config, init, watched)

    monkeypatch.setitem(embeddings.VIEW_BUILDERS, "tsne", held_tsne)
    choose(panel, "tsne")
    qtbot.waitUntil(lambda: panel.view_progress.bar.value() > 100 * NEIGHBOUR_SHARE, timeout=TIMEOUT)
    assert panel.view_progress.isVisible() and panel.view_progress.cancel_button.isVisible()
    percent = panel.view_progress.bar.value()
    assert f"Computing the t-SNE of 64 points… {percent}%" in panel.status.text()
    QTest.mouseClick(panel.view_progress.cancel_button, Qt.MouseButton.LeftButton)
    gate.set()
    qtbot.waitUntil(stopped.is_set, timeout=TIMEOUT)  # the worker's next report was answered "stop"
    assert answers[-1] is False and answers.count(False) == 1
    assert not panel.view_progress.isVisible()
    assert panel.status.text().startswith("Cancelled the t-SNE.")
    assert panel.settings.projection == "pca" and panel.controls.projection.currentData() == "pca"
    with qtbot.assertNotEmitted(panel.mapUpdated, wait=500):
        pass
    assert panel.view() is None and np.array_equal(panel.latent_map.points, shown)


def test_the_approximate_marker_appears_after_a_click_on_the_umap_view(panel, qtbot, monkeypatch) -> None:
    monkeypatch.setattr(embeddings, "umap_installed", lambda: True)
    monkeypatch.setitem(embeddings.VIEW_BUILDERS, "umap",
                        lambda latents, config, init, progress: UMAPView(LinearReducer(latents), latents.shape[1]))
    with qtbot.waitSignal(panel.mapUpdated, timeout=TIMEOUT):
        choose(panel, "umap")
    view = panel.view()
    assert view.kind == "umap" and panel.plane() is None and "UMAP" in panel.status.text()
    assert panel.latent_map.plot.getAxis("bottom").labelText.startswith("UMAP 1")
    assert "approximate" not in panel.decoded.title_label.text()
    x, y = empty_spot(panel)
    with qtbot.waitSignal(panel.pointChosen, timeout=TIMEOUT) as chosen:
        click(panel, x, y)
        assert "(approximate)" in panel.decoded.title_label.text()  # at once, while the inverse is computed
    z = view._reducer.plane.to_latent(np.array([[x, y]]))[0]
    np.testing.assert_allclose(chosen.args[0], z, atol=1e-5)
    assert panel.decoded.title_label.text() == "Decoded at the clicked point (approximate)"
    assert panel.decoded.caption().startswith(f"Approximate: UMAP's inverse of map ({x:.2f}, {y:.2f})")
    assert panel.decoded.image() is not None
    panel.sample_prior()  # an exact latent vector: no longer marked approximate
    assert "approximate" not in panel.decoded.title_label.text()


def test_choosing_umap_without_umap_learn_says_how_to_install_it(panel, qtbot, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "umap", None)  # as where umap-learn is not installed
    with qtbot.waitSignal(dialogs.error_reporter.shown) as shown, \
            qtbot.assertNotEmitted(panel.mapUpdated, wait=300):
        choose(panel, "umap")
    title, message = shown.args
    assert title == "UMAP is not installed" and "pip install 'vaestudio[umap]'" in message
    assert panel.controls.projection.currentData() == "pca" and panel.settings.projection == "pca"
    assert not panel.view_progress.isVisible() and panel.view() is None


def test_the_sketch_mean_is_placed_in_a_tsne_view(workspace, qtbot) -> None:  # noqa: F811 (the fixture)
    explorer = workspace.explorer
    with qtbot.waitSignal(explorer.mapUpdated, timeout=TIMEOUT):
        choose(explorer, "tsne")
    points, mu = explorer.result.layout.points, explorer.result.mu
    row = 5
    workspace.sketch.sketchEncoded.emit(mu[row], np.full(4, -2.0, np.float32))
    centre = explorer.latent_map.sketch_centre
    qtbot.waitUntil(lambda: len(centre.getData()[0]) == 1, timeout=TIMEOUT)
    placed = np.array([centre.getData()[0][0], centre.getData()[1][0]])
    assert np.linalg.norm(placed - points[row]) < 0.25 * points.std()  # where its own image's mean is
    assert len(explorer.latent_map.sketch_ellipse.getData()[0]) == 0  # no ellipse: a view has no plane
    workspace.sketch.sketchCleared.emit()
    assert len(centre.getData()[0]) == 0
