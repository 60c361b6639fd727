"""The latent map's context menu: each entry triggered once, and what it did; saving confirms where the file went."""

from __future__ import annotations

import json

import numpy as np
import pytest
from full_window import full_window  # noqa: F401  (fixture)
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog, QMenu, QMessageBox

from vaestudio.core.latent.space import decode_latents
from vaestudio.gui.explorer.map_menu import MENU_ENTRIES
from vaestudio.gui.widgets import dialogs

TIMEOUT = 20_000


@pytest.fixture
def explorer(full_window, qtbot):  # noqa: F811
    explorer = full_window.workspace.explorer
    qtbot.waitUntil(lambda: explorer.result is not None, timeout=TIMEOUT)
    return explorer


@pytest.fixture
def saved_to(monkeypatch, tmp_path):
    """Save dialogs answer a file in tmp_path (its name from `saved_to.name`); Open folder is recorded."""

    class Answers:
        name = "map.png"
        opened: list = []

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(tmp_path / Answers.name), ""))

    class FakeDesktop:
        @staticmethod
        def openUrl(url):  # noqa: N802 (Qt's name)
            Answers.opened.append(url.toLocalFile())
            return True

    monkeypatch.setattr(dialogs, "QDesktopServices", FakeDesktop)
    return Answers


def action(menu: QMenu, text: str):
    found = [entry for entry in menu.actions() if entry.text().startswith(text)]
    assert len(found) == 1, [entry.text() for entry in menu.actions()]
    return found[0]


def a_point(explorer) -> tuple[float, float, np.ndarray]:
    x, y = 0.3, -0.2
    return x, y, explorer.plane().to_latent(np.array([[x, y]]))[0]


def test_a_right_click_opens_the_menu_with_every_entry(explorer, qtbot):
    viewport = explorer.latent_map.plot.viewport()
    (x0, x1), (y0, y1) = explorer.latent_map.view_range()
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    with qtbot.waitSignal(explorer.latent_map.contextRequested) as requested:
        QTest.mouseClick(viewport, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier,
                         explorer.latent_map.map_to_widget(*centre))
    x, y = requested.args[:2]
    assert abs(x - centre[0]) < 0.02 * (x1 - x0) and abs(y - centre[1]) < 0.02 * (y1 - y0)
    menu = QApplication.activePopupWidget()
    assert isinstance(menu, QMenu) and menu.objectName() == "mapMenu"
    assert [entry.text() for entry in menu.actions() if not entry.isSeparator()] == list(MENU_ENTRIES)
    menu.close()


def test_decode_here_decodes_the_point(explorer, qtbot):
    x, y, z = a_point(explorer)
    with qtbot.waitSignal(explorer.pointChosen) as chosen:
        action(explorer.map_menu(x, y), "Decode here").trigger()
    np.testing.assert_allclose(chosen.args[0], z, atol=1e-6)
    np.testing.assert_allclose(explorer.decoded.image(), decode_latents(explorer.session.model, z[None])[0], atol=1e-6)


@pytest.mark.parametrize("which", ["A", "B"])
def test_use_as_interpolation_end(explorer, full_window, which):  # noqa: F811
    workspace = full_window.workspace
    workspace.tools.setCurrentWidget(workspace.sketch)
    x, y, z = a_point(explorer)
    other = "B" if which == "A" else "A"
    before = workspace.interpolation.endpoints[other].z.copy()
    action(explorer.map_menu(x, y), f"Use as interpolation end {which}").trigger()
    endpoint = workspace.interpolation.endpoints[which]
    np.testing.assert_allclose(endpoint.z, z, atol=1e-6)
    assert endpoint.source == "map"
    np.testing.assert_array_equal(workspace.interpolation.endpoints[other].z, before)  # the other end stays
    np.testing.assert_allclose(workspace.interpolation.path[0 if which == "A" else -1], z, atol=1e-6)
    assert workspace.tools.currentWidget() is workspace.interpolation


def test_copy_z_puts_the_vector_on_the_clipboard(explorer):
    x, y, z = a_point(explorer)
    QApplication.clipboard().clear()
    action(explorer.map_menu(x, y), "Copy z").trigger()
    np.testing.assert_allclose(json.loads(QApplication.clipboard().text()), z, atol=1e-5)


def test_on_a_view_the_entries_use_the_nearest_encoded_point(explorer):
    layout = explorer.result.layout
    row = 7
    x, y = map(float, layout.points[row])
    explorer.plane = lambda: None  # as on a t-SNE view: no plane to invert
    menu = explorer.map_menu(x + 1e-4, y)
    copy = action(menu, "Copy z")
    assert copy.text() == "Copy z (nearest point)"
    copy.trigger()
    np.testing.assert_allclose(json.loads(QApplication.clipboard().text()),
                               explorer.result.mu[int(layout.rows[row])], atol=1e-5)


def test_export_map_writes_the_png_and_says_where(explorer, qtbot, saved_to, tmp_path):
    with qtbot.waitSignal(dialogs.error_reporter.saved) as saved:
        action(explorer.map_menu(0.0, 0.0), "Export map…").trigger()
    assert saved.args == [str((tmp_path / "map.png").resolve())]
    assert Image.open(tmp_path / "map.png").format == "PNG"
    box = [widget for widget in QApplication.topLevelWidgets()
           if isinstance(widget, QMessageBox) and widget.objectName() == "savedDialog" and widget.isVisible()][-1]
    assert str(tmp_path.resolve()) in box.informativeText() and "map.png" in box.informativeText()
    open_button = [button for button in box.buttons() if button.text() == "Open folder"][0]
    open_button.click()
    assert saved_to.opened == [str(tmp_path.resolve())]


def test_the_exported_loss_plot_has_a_title_and_a_legend(full_window, qtbot, saved_to, tmp_path):  # noqa: F811
    saved_to.name = "loss.svg"
    with qtbot.waitSignal(dialogs.error_reporter.saved):
        full_window.workspace.export_loss_plot()
    svg = (tmp_path / "loss.svg").read_text()
    assert "Training of" in svg and "Loss (negative ELBO), training (smoothed)" in svg
    assert "KL, test set" in svg
    assert full_window.tabs.currentWidget() is full_window.training_view  # the plot exported is the one on screen
    loss_plot = full_window.loss_plot
    assert loss_plot.export_legend is None and not loss_plot.plot_item.titleLabel.isVisible()  # the window: none


def test_saving_from_the_export_dialog_confirms_and_opens_the_folder(full_window, qtbot, saved_to, tmp_path):  # noqa: F811
    saved_to.name = "samples.png"
    dialog = full_window.workspace.open_export_dialog("samples")
    with qtbot.waitSignal(dialogs.error_reporter.saved) as saved:
        dialog.save_button.click()
    assert saved.args == [str((tmp_path / "samples.png").resolve())]
    box = [widget for widget in dialog.findChildren(QMessageBox) if widget.objectName() == "savedDialog"][0]
    assert box.text() == "Saved the samples from the prior sheet." and str(tmp_path.resolve()) in box.informativeText()
    [button for button in box.buttons() if button.text() == "Open folder"][0].click()
    assert saved_to.opened == [str(tmp_path.resolve())]
    dialog.close()
