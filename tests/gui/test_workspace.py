"""The explorer inside the main window: the map feeds the panels, the panels draw on the map."""

from __future__ import annotations

import numpy as np
import pytest
from test_explorer import TIMEOUT, saved_model

from vaestudio.core.latent.space import encode_images, posterior_outline
from vaestudio.gui.explorer.workspace import ExplorerWorkspace
from vaestudio.gui.main_window import MainWindow
from vaestudio.gui.widgets.export_dialog import ExportDialog


@pytest.fixture
def workspace(qtbot, tiny_dataset):
    window = MainWindow()
    window.close_policy = "discard"
    qtbot.addWidget(window)
    workspace = ExplorerWorkspace(window)
    window.show_model(saved_model(tiny_dataset, 4), "file")
    window.resize(1300, 900)
    window.show()
    qtbot.waitUntil(lambda: workspace.test_data is not None, timeout=TIMEOUT)
    yield workspace
    workspace.explorer.shutdown()


def test_tabs_and_shortcuts(workspace):
    window = workspace.window
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Training", "Latent space"]
    assert [workspace.tools.tabText(i) for i in range(4)] == ["Interpolation", "Reconstruction", "Latent sliders",
                                                             "Sketch pad"]
    texts = [action.text() for action in window.menus.file_menu.actions()]
    assert texts.index("&Export images…") < texts.index("&Quit")


def test_panels_share_the_maps_test_split(workspace):
    assert len(workspace.test_data) == 64
    assert np.array_equal(workspace.test_data.images.numpy(), workspace.explorer.images)
    for panel in (workspace.interpolation, workspace.reconstruction, workspace.sliders, workspace.sketch):
        assert panel.dataset is workspace.test_data


def test_map_click_feeds_interpolation_and_sliders(workspace, qtbot):
    explorer = workspace.explorer
    plane = explorer.plane()
    with qtbot.waitSignal(explorer.pointChosen, timeout=TIMEOUT) as chosen:
        explorer.latent_map.clicked.emit(0.5, -0.25, -1)
    z = chosen.args[0]
    assert np.allclose(z, plane.to_latent(np.array([[0.5, -0.25]]))[0], atol=1e-6)
    assert np.allclose(workspace.interpolation.endpoints["A"].z, z)
    assert np.allclose(workspace.sliders.z, z)


def test_interpolation_path_is_drawn_on_the_map(workspace):
    path = workspace.interpolation.path
    assert len(path) >= 2
    xs, ys = workspace.explorer.latent_map.path.getData()
    expected = workspace.explorer.plane().to_map(path)
    assert np.allclose(np.stack([xs, ys], axis=1), expected, atol=1e-5)


def test_marked_reconstruction_is_marked_on_the_map(workspace):
    index = 5
    workspace.reconstruction.sampleMarked.emit(index)
    mu = encode_images(workspace.window.session.model, workspace.test_data.images[index:index + 1]).mu
    expected = workspace.explorer.plane().to_map(mu)[0]
    xs, ys = workspace.explorer.latent_map.markers[0].getData()
    assert np.allclose([xs[0], ys[0]], expected, atol=1e-5)


def test_sketch_posterior_is_drawn_and_cleared(workspace):
    mu, logvar = np.array([0.5, -1.0, 0.2, 0.0], np.float32), np.full(4, -2.0, np.float32)
    workspace.sketch.sketchEncoded.emit(mu, logvar)
    centre, outline = posterior_outline(workspace.explorer.plane(), mu, logvar)
    xs, ys = workspace.explorer.latent_map.sketch_centre.getData()
    assert np.allclose([xs[0], ys[0]], centre)
    ex, ey = workspace.explorer.latent_map.sketch_ellipse.getData()
    assert np.allclose(np.stack([ex, ey], axis=1), outline)
    workspace.sketch.sketchCleared.emit()
    assert len(workspace.explorer.latent_map.sketch_centre.getData()[0]) == 0


def test_export_dialog_opens_with_the_test_data(workspace, qtbot):
    dialog = workspace.open_export_dialog("reconstructions")
    assert isinstance(dialog, ExportDialog)
    qtbot.addWidget(dialog)
    dialog.close()


def test_each_tool_has_an_export_button_for_its_kind(workspace, qtbot, monkeypatch):
    opened = []
    monkeypatch.setattr(ExportDialog, "open", lambda self: opened.append(self.kind))
    for index in range(workspace.tools.count()):
        workspace.tools.setCurrentIndex(index)
        workspace.tools.cornerWidget().click()
    assert opened == ["interpolation", "reconstructions", "traversal", "samples"]


def test_every_panel_runs_its_jobs_on_the_windows_one_runner(workspace):
    jobs = workspace.window.jobs
    assert all(panel.jobs is jobs for panel in (workspace.explorer, workspace.reconstruction, workspace.sliders,
                                                workspace.sketch))
    assert jobs.worker_thread is not None and jobs.worker_thread.is_alive()


def test_a_failing_map_job_is_logged_and_shown_over_the_window(workspace, qtbot, monkeypatch, caplog):
    from PySide6.QtWidgets import QMessageBox

    from vaestudio.gui.explorer import map_updates
    from vaestudio.gui.widgets import dialogs

    def broken(*args, **kwargs):
        raise ValueError("singular matrix")

    monkeypatch.setattr(map_updates, "build_map", broken)
    with qtbot.waitSignal(dialogs.error_reporter.shown, timeout=TIMEOUT) as shown:
        workspace.window.session.weightsUpdated.emit()
    assert shown.args[0] == "Encoding the test images for the map failed."
    assert "ValueError: singular matrix" in shown.args[1] and "Traceback" not in shown.args[1]
    assert "Traceback" in caplog.text and "singular matrix" in caplog.text
    boxes = [box for box in workspace.window.findChildren(QMessageBox) if box.isVisible()]
    assert [box.informativeText() for box in boxes] == [shown.args[1]]
    assert "singular matrix" in workspace.explorer.status.text()
    boxes[0].accept()
