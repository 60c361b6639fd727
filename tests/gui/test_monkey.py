"""The short monkey test: 300 seeded random GUI actions over the whole window (the long form: tests/monkey.py)."""

from __future__ import annotations

import pytest
from monkey import EXPLAINED_WARNINGS, walk

ACTIONS = 300


@pytest.mark.parametrize("seed", [1])
def test_a_seeded_walk_of_300_actions_raises_nothing_and_leaves_no_thread(qtbot, tmp_path, seed):
    report = walk(seed, ACTIONS, tmp_path, qtbot)
    print(report.summary())
    assert report.actions == ACTIONS
    assert report.exceptions == []
    assert report.unexplained_warnings == {}, f"explain or fix: {report.unexplained_warnings}"
    assert report.threads_left == []
    assert report.counts.get("train", 0) > 0 and report.counts.get("mouse_on_canvas", 0) > 0
    assert set(EXPLAINED_WARNINGS)  # each explained warning carries its reason in monkey.py


def test_the_spies_see_an_exception_in_a_slot_and_a_qt_warning(qtbot, tmp_path):
    """The walk's counters are not blind: a raising slot and a Qt warning are both recorded."""
    from monkey import MonkeyReport, install_spies
    from PySide6.QtCore import QTimer, qWarning

    report = MonkeyReport(0)
    remove = install_spies(report)
    try:
        def broken():
            raise ValueError("a slot fails")

        QTimer.singleShot(0, broken)
        qtbot.wait(50)
        qWarning("an unexplained warning")
    finally:
        remove()
    assert any("ValueError: a slot fails" in text for text in report.exceptions)
    assert report.unexplained_warnings == {"an unexplained warning": 1}
