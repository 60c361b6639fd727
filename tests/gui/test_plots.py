"""The live loss plot and the KL bars hold exactly the points they were sent."""

from __future__ import annotations

import numpy as np
import pytest

from vaestudio.core.models.history import EpochResult, EvaluationResult, TrainingHistory
from vaestudio.gui.training.kl_bars import COLLAPSED_COLOUR, USED_COLOUR, KLBars
from vaestudio.gui.training.loss_plot import (
    LossPlot,
    batches_per_epoch,
    exponential_smoothing,
)


def _history(epochs: int, batches: int, start: float = 100.0) -> TrainingHistory:
    history = TrainingHistory()
    for epoch in range(epochs):
        for batch in range(1, batches + 1):
            loss = start - 10 * epoch - batch
            history.step_loss.append(loss)
            history.step_reconstruction.append(0.75 * loss)
            history.step_kl.append(0.25 * loss)
    return history


def _epoch(epoch: int, loss: float, kl_per_dim=(1.0, 0.0)) -> EpochResult:
    test = EvaluationResult(loss, loss - 5, 5.0, list(kl_per_dim), 1, images=10)
    return EpochResult(epoch, 4, loss + 1, loss - 4, 5.0, test, 2.0, 50.0)


def _points(curve) -> int:
    x, _ = curve.getData()
    return 0 if x is None else len(x)


@pytest.fixture
def plot(qtbot):
    widget = LossPlot()
    qtbot.addWidget(widget)
    return widget


def test_the_plot_shows_what_the_followed_history_holds(plot):
    history = _history(1, 4)
    plot.show_history(history, batches_per_epoch=4)
    more = _history(2, 4)  # the training thread appends a second epoch
    for name in ("step_loss", "step_reconstruction", "step_kl"):
        getattr(history, name).extend(getattr(more, name)[4:])
    history.epochs.append(_epoch(1, 95.0))
    plot.redraw()
    x, y = plot.raw_curves["loss"].getData()
    assert np.allclose(x, [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0])
    assert np.allclose(y, history.step_loss)
    assert np.allclose(plot.raw_curves["reconstruction"].getData()[1], history.step_reconstruction)
    assert np.allclose(plot.raw_curves["kl"].getData()[1], history.step_kl)
    _, smooth = plot.smooth_curves["loss"].getData()
    assert np.allclose(smooth, exponential_smoothing(y, None))
    test_x, test_y = plot.test_curves["loss"].getData()
    assert test_x.tolist() == [1.0] and test_y.tolist() == [95.0]
    assert "test loss 95.00" in plot.summary.text()


def test_a_rewound_history_is_redrawn_from_what_it_holds(plot):
    history = _history(2, 4)
    plot.show_history(history, batches_per_epoch=4)
    assert plot.shown_steps == 8
    for name in ("step_loss", "step_reconstruction", "step_kl"):
        del getattr(history, name)[5:]  # a stop in epoch 2 cuts the history back
    plot.redraw()
    assert plot.shown_steps == 5 and plot.raw["loss"].count == 5
    assert np.allclose(plot.raw_curves["loss"].getData()[1], history.step_loss)
    assert np.allclose(plot.smooth["loss"].y, exponential_smoothing(np.array(history.step_loss), None))


def test_the_plot_redraws_from_its_timer_not_on_every_step(plot, qtbot):
    history = TrainingHistory()
    plot.show_history(history, batches_per_epoch=3)
    source = _history(1, 3)
    history.step_loss.extend(source.step_loss)
    history.step_reconstruction.extend(source.step_reconstruction)
    history.step_kl.extend(source.step_kl)
    assert _points(plot.raw_curves["loss"]) == 0
    with qtbot.waitSignal(plot.timer.timeout, timeout=2_000):
        pass
    assert _points(plot.raw_curves["loss"]) == 3


def test_smoothing_carries_over_between_syncs(plot):
    source = _history(1, 40)
    history = TrainingHistory(source.step_loss[:10], source.step_reconstruction[:10], source.step_kl[:10])
    plot.show_history(history, batches_per_epoch=40)
    history.step_loss.extend(source.step_loss[10:])
    history.step_reconstruction.extend(source.step_reconstruction[10:])
    history.step_kl.extend(source.step_kl[10:])
    plot.sync()
    assert np.allclose(plot.smooth["loss"].y, exponential_smoothing(np.array(source.step_loss), None))
    assert plot.smooth["loss"].y[-1] > source.step_loss[-1]  # lags behind a falling loss


def test_the_epoch_axis_has_no_si_prefix(plot):
    plot.show_history(_history(1, 400), batches_per_epoch=1000)  # x up to 0.4 epochs
    plot.redraw()
    axis = plot.plot_item.getAxis("bottom")
    axis.updateAutoSIPrefix()
    assert axis.labelText == "epoch" and axis.autoSIPrefixScale == 1.0


def test_terms_toggle_and_log_scale(plot):
    plot.term_boxes["kl"].setChecked(False)
    assert not plot.raw_curves["kl"].isVisible() and not plot.test_curves["kl"].isVisible()
    assert plot.raw_curves["reconstruction"].isVisible()
    plot.term_boxes["kl"].setChecked(True)
    assert plot.smooth_curves["kl"].isVisible()
    plot.set_log_scale(True)
    assert plot.log_box.isChecked() and plot.plot_item.getAxis("left").logMode
    plot.log_box.setChecked(False)
    assert not plot.plot_item.getAxis("left").logMode


def test_a_saved_history_is_plotted_in_epochs(plot):
    history = TrainingHistory(step_loss=[9.0, 8.0, 7.0, 6.0], step_reconstruction=[6.0, 5.0, 4.0, 3.0],
                              step_kl=[3.0] * 4, epochs=[_epoch(1, 7.5), _epoch(2, 6.5)])
    history.epochs[0].samples_per_second, history.epochs[0].seconds = 50.0, 2.0  # 100 images
    assert batches_per_epoch(history, batch_size=50) == 2
    plot.set_history(history, batch_size=50)
    x, y = plot.raw_curves["loss"].getData()
    assert x.tolist() == [0.5, 1.0, 1.5, 2.0] and y.tolist() == history.step_loss
    assert plot.test_curves["kl"].getData()[1].tolist() == [5.0, 5.0]
    plot.clear()
    assert _points(plot.raw_curves["loss"]) == 0 and plot.raw["loss"].count == 0


def test_a_plot_behind_another_tab_draws_when_it_is_shown(qtbot):
    """A history opened while another tab is on screen (the map at start-up) is drawn when its tab shows."""
    from PySide6.QtWidgets import QLabel, QTabWidget

    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    plot = LossPlot()
    tabs.addTab(QLabel("map"), "Latent space")
    tabs.addTab(plot, "Training")
    tabs.show()
    plot.show_history(_history(2, 4), 4)
    assert _points(plot.raw_curves["loss"]) == 0 and plot.shown_steps == 0
    tabs.setCurrentWidget(plot)
    assert _points(plot.raw_curves["loss"]) == 8 and plot.shown_steps == 8


def test_kl_bars_show_each_dimension_and_the_active_units(qtbot):
    bars = KLBars()
    qtbot.addWidget(bars)
    bars.show_kl([2.5, 0.001, 0.7, 0.0], active_units=2)
    assert bars.kl.tolist() == [2.5, 0.001, 0.7, 0.0]
    heights = bars.bars.opts["height"]
    assert heights[0] == 2.5 and heights[2] == 0.7
    assert 0 < heights[3] < 0.1 and heights[1] == heights[3]  # collapsed dimensions stay visible as slivers
    assert bars.bars.opts["x"].tolist() == [0, 1, 2, 3]
    ticks = bars.plot_item.getAxis("bottom")._tickLevels[0]
    assert [text for _, text in ticks] == ["z1", "z2", "z3", "z4"]  # dimensions numbered from 1 everywhere
    colours = [brush.color().getRgb()[:3] for brush in bars.bars._brushes]
    assert colours == [USED_COLOUR, COLLAPSED_COLOUR, USED_COLOUR, COLLAPSED_COLOUR]
    assert "2 of 4" in bars.title.text()
    bars.show_kl([1.0] * 3, active_units=3)
    assert bars.bars.opts["height"].tolist() == [1.0] * 3 and "3 of 3" in bars.title.text()
    bars.clear()
    assert len(bars.bars.opts["height"]) == 0
