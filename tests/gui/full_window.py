"""The window as `vaestudio` builds it (MainWindow + the explorer workspace), showing a tiny model."""

from __future__ import annotations

import pytest
from test_explorer import TIMEOUT, saved_model

from vaestudio.gui.app import create_main_window


@pytest.fixture
def full_window(qtbot, tiny_dataset):
    window = create_main_window()
    window.close_policy = "discard"
    window.training_threads = 1
    qtbot.addWidget(window, before_close_func=lambda widget: widget.workspace.explorer.shutdown())
    window.show_model(saved_model(tiny_dataset, 4), "file")
    window.resize(1440, 900)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.workspace.test_data is not None, timeout=TIMEOUT)
    yield window
    run = window.run
    if run is not None and run.alive:
        with qtbot.waitSignal(run.ended, timeout=60_000):
            run.stop()
