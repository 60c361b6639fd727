"""Start-up: the window is usable once the bundled model's map is drawn (or says it has no data)."""

import numpy as np
import pytest
from tiny_data import write_idx_folder

from vaestudio.core.errors import ResourceMissingError
from vaestudio.gui import app


@pytest.fixture
def started(qtbot):
    windows = []

    def start(data_dir):
        window = app.create_main_window(data_dir=str(data_dir))
        qtbot.addWidget(window)
        windows.append(window)
        return window

    yield start
    for window in windows:
        window.shutdown()


def test_usable_once_the_bundled_model_map_is_drawn(started, qtbot, tmp_path):
    write_idx_folder(tmp_path / "MNIST" / "raw", test=64)
    window = started(tmp_path)
    calls = []
    app.when_usable(window, lambda: calls.append(window.workspace.explorer.result))
    qtbot.waitUntil(lambda: len(calls) > 0, timeout=20_000)
    assert window.session.origin == "bundled" and len(calls[0].indices) == 64
    window.workspace.explorer.mapUpdated.emit()  # a later redraw does not call again
    qtbot.wait(50)
    assert len(calls) == 1


def test_a_large_test_split_shows_its_first_points_then_all(started, qtbot, tmp_path, monkeypatch):
    """The first map of a large split shows a few of its points at once (same plane), then every one."""
    from vaestudio.gui.explorer import map_updates

    monkeypatch.setattr(map_updates, "PREVIEW_POINTS", 40)
    write_idx_folder(tmp_path / "MNIST" / "raw", test=150)
    window = started(tmp_path)
    explorer, shown = window.workspace.explorer, []
    results = []
    explorer.mapUpdated.connect(lambda: results.append(explorer.result))
    explorer.mapUpdated.connect(lambda: shown.append((len(explorer.result.indices), explorer.map_preview,
                                                      explorer.status.text())))
    calls = []
    app.when_usable(window, lambda: calls.append("usable"))
    app._when_map_drawn(window, lambda: calls.append(("complete", len(explorer.result.indices))), complete=True)
    qtbot.waitUntil(lambda: len(calls) == 2, timeout=20_000)
    assert [(count, preview) for count, preview, _ in shown] == [(40, True), (150, False)]
    assert shown[0][2].startswith("The first 40 of 150 test images; encoding the rest.")
    assert calls == ["usable", ("complete", 150)]
    first, full = results  # the 40 were placed where the whole map places them (the same plane)
    assert set(first.indices) < set(full.indices)
    rows = np.searchsorted(full.indices, first.indices)
    np.testing.assert_allclose(first.layout.points, full.layout.points[rows], rtol=1e-5, atol=1e-6)


def test_a_small_test_split_is_shown_whole_at_once(started, qtbot, tmp_path):
    write_idx_folder(tmp_path / "MNIST" / "raw", test=64)
    window = started(tmp_path)
    explorer, shown = window.workspace.explorer, []
    explorer.mapUpdated.connect(lambda: shown.append((len(explorer.result.indices), explorer.map_preview)))
    qtbot.waitUntil(lambda: len(shown) > 0, timeout=20_000)
    qtbot.wait(100)
    assert shown == [(64, False)]


def test_usable_without_test_images(started, qtbot, tmp_path, monkeypatch):
    monkeypatch.delenv("VAESTUDIO_DATA_DIR", raising=False)
    window = started(tmp_path / "empty")
    calls = []
    app.when_usable(window, lambda: calls.append(window.workspace.explorer.dataset_error))
    qtbot.waitUntil(lambda: len(calls) > 0, timeout=20_000)
    assert calls[0] is not None and window.session.has_model


def test_missing_resources_leave_the_window_empty_and_say_why(qtbot, monkeypatch):
    def missing():
        raise ResourceMissingError("VAE Studio's resources (bundled models, icon) are missing: reinstall")

    monkeypatch.setattr(app, "default_bundled_model", missing)
    window = app.create_main_window()
    qtbot.addWidget(window)
    assert not window.session.has_model
    assert "resources (bundled models, icon) are missing" in window.statusBar().currentMessage()


def test_the_training_tab_is_built_when_first_opened(started, qtbot, tmp_path):
    """A window opened on the map builds the loss plot and the KL bars only when the Training tab opens;
    they then show the loaded model's history, and the View entries reach them."""
    window = started(tmp_path / "empty")
    window.show()
    qtbot.waitExposed(window)
    assert window.tabs.currentIndex() == window.workspace.map_tab and window._loss_plot is None
    history = window.session.history
    window.menus.log_action.trigger()  # builds the plot (behind the map tab) and sets its scale
    assert window._loss_plot is not None and window.loss_plot.log_box.isChecked()
    window.tabs.setCurrentWidget(window.training_view)
    assert window.loss_plot.shown_steps == len(history.step_loss) > 0
    assert len(window.kl_bars.kl) == len(history.epochs[-1].test.kl_per_dim)
    window.loss_plot.term_boxes["kl"].setChecked(False)
    assert not window.menus.term_actions["kl"].isChecked()
