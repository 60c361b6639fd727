"""The live loss plot: per-step training loss (raw and smoothed) and per-epoch test loss.

The plot follows one `TrainingHistory` (a run's, read as the training thread appends to it,
or a saved model's): a timer at `REDRAW_HZ` copies the steps and epochs it has not shown yet
into growable numpy buffers and calls `setData` on the existing curves, only when something
changed. When the history is cut back (a stop or a non-finite loss rewinds the run to its last
epoch end), the curves are rebuilt from what it holds, so the plot always shows the run's own
history and never a copy of its own. The x axis is in epochs (a step at batch b of B in epoch e sits at e - 1 + b / B),
so a live run and a history read from a model file look alike.

The plot has no grid and no legend item (the coloured check boxes are the legend) and its
lines are one pixel wide: drawn in software, a grid, a legend or 2-pixel lines each cost more
than the curves themselves on every repaint of a resized window (20-40 ms for a long run).
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from vaestudio.core.models.history import EpochResult, EvaluationResult, TrainingHistory

TERMS = ("loss", "reconstruction", "kl")
TERM_TITLES = {"loss": "Loss (negative ELBO)", "reconstruction": "Reconstruction", "kl": "KL"}
CHECKBOX_TITLES = {"loss": "Loss", "reconstruction": "Reconstruction", "kl": "KL"}
TERM_COLOURS = {"loss": (31, 119, 180), "reconstruction": (44, 160, 44), "kl": (214, 39, 40)}
SMOOTHING = 0.1
REDRAW_HZ = 10


class _Series:
    """A growable float64 column pair (x, y), viewed without copies as `x`, `y`."""

    def __init__(self, capacity: int = 1024) -> None:
        self._data = np.empty((2, capacity))
        self.count = 0

    def extend(self, x: np.ndarray, y: np.ndarray) -> None:
        needed = self.count + len(x)
        if needed > self._data.shape[1]:
            grown = np.empty((2, max(needed, 2 * self._data.shape[1])))
            grown[:, :self.count] = self._data[:, :self.count]
            self._data = grown
        self._data[0, self.count:needed] = x
        self._data[1, self.count:needed] = y
        self.count = needed

    @property
    def x(self) -> np.ndarray:
        return self._data[0, :self.count]

    @property
    def y(self) -> np.ndarray:
        return self._data[1, :self.count]

    def clear(self) -> None:
        self.count = 0


def exponential_smoothing(values: np.ndarray, previous: float | None, weight: float = SMOOTHING) -> np.ndarray:
    """Each output is (1 - weight) * the previous output + weight * the value; starts at the first value."""
    smoothed = np.empty(len(values))
    current = previous
    for index, value in enumerate(values):
        current = value if current is None else current + weight * (value - current)
        smoothed[index] = current
    return smoothed


class LossPlot(QWidget):
    """Training and test loss, with the reconstruction and KL terms togglable, and a log scale."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.raw = {term: _Series() for term in TERMS}
        self.smooth = {term: _Series() for term in TERMS}
        self.test = {term: _Series(64) for term in TERMS}
        self._steps_dirty = self._test_dirty = False
        self.history: TrainingHistory | None = None
        self._per_epoch = 1
        self._shown_steps = self._shown_epochs = 0
        self.export_legend: pg.LegendItem | None = None  # only while the plot is exported

        self.plot_widget = pg.PlotWidget()
        self.plot_item = self.plot_widget.getPlotItem()
        self.plot_item.setLabel("bottom", "epoch")
        self.plot_item.getAxis("bottom").enableAutoSIPrefix(False)  # never "epoch (x0.001)" in the first epoch
        self.plot_item.setLabel("left", "nats per image")
        self.plot_item.getAxis("left").enableAutoSIPrefix(False)
        self.plot_item.setClipToView(True)
        self.raw_curves, self.smooth_curves, self.test_curves = {}, {}, {}
        for term in TERMS:
            colour = TERM_COLOURS[term]
            self.raw_curves[term] = self.plot_item.plot(pen=pg.mkPen((*colour, 55), width=1))
            self.smooth_curves[term] = self.plot_item.plot(pen=pg.mkPen(colour, width=1))
            self.test_curves[term] = self.plot_item.plot(
                pen=pg.mkPen(colour, width=2, style=pg.QtCore.Qt.PenStyle.DashLine), symbol="o", symbolSize=7,
                symbolBrush=colour, symbolPen=None)
            for curve in (self.raw_curves[term], self.smooth_curves[term]):
                curve.setDownsampling(auto=True, method="peak")
                curve.setClipToView(True)

        self.term_boxes: dict[str, QCheckBox] = {}
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Show:"))
        for term in TERMS:
            box = QCheckBox(CHECKBOX_TITLES[term])
            box.setToolTip(f"Show the {TERM_TITLES[term].lower()} curves")
            box.setStyleSheet(f"QCheckBox {{ color: rgb{TERM_COLOURS[term]}; font-weight: bold; }}")
            box.setChecked(True)
            box.toggled.connect(self._apply_visibility)
            self.term_boxes[term] = box
            controls.addWidget(box)
        controls.addStretch(1)
        self.log_box = QCheckBox("Log scale")
        self.log_box.toggled.connect(self.set_log_scale)
        controls.addWidget(self.log_box)
        key = QLabel("faint: each training step · solid: smoothed · dashed with dots: test set at each epoch end")
        key.setStyleSheet("color: #666;")
        key.setWordWrap(True)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(key)
        layout.addWidget(self.summary)
        self._apply_visibility()

        self.timer = QTimer(self)
        self.timer.setInterval(int(1000 / REDRAW_HZ))
        self.timer.timeout.connect(self.redraw)
        self.timer.start()

    @contextmanager
    def labelled_for_export(self, title: str):
        """A title and a legend of the curves shown, while the plot is written to a file (the window has the
        check boxes and the key under the plot instead)."""
        legend = pg.LegendItem(offset=(-10, 10), brush=pg.mkBrush(255, 255, 255, 220), pen=pg.mkPen(160, 160, 160))
        legend.setParentItem(self.plot_item.getViewBox())
        for term in TERMS:
            if self.term_boxes[term].isChecked():
                legend.addItem(self.smooth_curves[term], f"{TERM_TITLES[term]}, training (smoothed)")
                legend.addItem(self.test_curves[term], f"{TERM_TITLES[term]}, test set")
        self.plot_item.setTitle(title)
        self.export_legend = legend
        try:
            yield legend
        finally:
            self.plot_item.setTitle(None)
            legend.scene().removeItem(legend)
            self.export_legend = None

    # data in
    def show_history(self, history: TrainingHistory, batches_per_epoch: int | None) -> None:
        """Follow `history` from now on; a step i (from 0) is drawn at epoch (i + 1) / batches_per_epoch."""
        self.history = history
        self._per_epoch = max(1, batches_per_epoch or len(history.step_loss) or 1)
        self._forget_shown()
        self.redraw()

    def set_history(self, history: TrainingHistory, batch_size: int) -> None:
        """Show a saved run's history (a model opened from a file)."""
        self.show_history(history, batches_per_epoch(history, batch_size))

    def clear(self) -> None:
        self.history = None
        self._forget_shown()
        self.redraw()

    def sync(self) -> None:
        """Copy what the followed history gained (or rebuild after it was cut back) into the curves' buffers."""
        history = self.history
        if history is None:
            return
        columns = (history.step_loss, history.step_reconstruction, history.step_kl)
        count = min(len(values) for values in columns)  # the training thread appends to the three in turn
        if count < self._shown_steps:
            for series in (*self.raw.values(), *self.smooth.values()):
                series.clear()
            self._shown_steps = 0
        if count > self._shown_steps:
            start = self._shown_steps
            x = np.arange(start + 1, count + 1, dtype=np.float64) / self._per_epoch
            for term, values in zip(TERMS, columns, strict=True):
                self._extend_steps(term, x, np.asarray(values[start:count], dtype=np.float64))
            self._shown_steps = count
            self._steps_dirty = True
        epochs = history.epochs[:]
        if len(epochs) != self._shown_epochs:
            if len(epochs) < self._shown_epochs:
                for series in self.test.values():
                    series.clear()
                self._shown_epochs = 0
            for result in epochs[self._shown_epochs:]:
                self._add_test_point(result.epoch, result.test)
            self._shown_epochs = len(epochs)
            self.summary.setText(self._summary_text(epochs[-1]) if epochs else "")
            self._test_dirty = True

    @property
    def shown_steps(self) -> int:
        return self._shown_steps

    def _forget_shown(self) -> None:
        for series in (*self.raw.values(), *self.smooth.values(), *self.test.values()):
            series.clear()
        self._shown_steps = self._shown_epochs = 0
        self.summary.setText("")
        self._steps_dirty = self._test_dirty = True

    # drawing
    def redraw(self) -> None:
        """Bring the buffers up to date and push them into the existing curves; a no-op when nothing changed.

        Behind another tab it waits for `showEvent`: a model opened while the map is on screen
        (the bundled one at start-up) costs no smoothing and no curve updates.
        """
        window = self.window()
        if window is not self and not self.isVisibleTo(window):
            return
        self.sync()
        steps, test = self._steps_dirty, self._test_dirty
        self._steps_dirty = self._test_dirty = False
        for term in TERMS:
            if steps:
                self.raw_curves[term].setData(self.raw[term].x, self.raw[term].y)
                self.smooth_curves[term].setData(self.smooth[term].x, self.smooth[term].y)
            if test:  # symbols: each setData rebuilds them, so only at epoch ends
                self.test_curves[term].setData(self.test[term].x, self.test[term].y)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.redraw()

    def set_log_scale(self, on: bool) -> None:
        if self.log_box.isChecked() != on:
            self.log_box.setChecked(on)
            return
        self.plot_item.setLogMode(x=False, y=on)

    def _apply_visibility(self) -> None:
        for term, box in self.term_boxes.items():
            for curves in (self.raw_curves, self.smooth_curves, self.test_curves):
                curves[term].setVisible(box.isChecked())

    def _extend_steps(self, term: str, x: np.ndarray, values: np.ndarray) -> None:
        previous = float(self.smooth[term].y[-1]) if self.smooth[term].count else None
        self.raw[term].extend(x, values)
        self.smooth[term].extend(x, exponential_smoothing(values, previous))

    def _add_test_point(self, epoch: int, test: EvaluationResult) -> None:
        for term in TERMS:
            self.test[term].extend(np.array([float(epoch)]), np.array([getattr(test, term)]))

    @staticmethod
    def _summary_text(result: EpochResult) -> str:
        test = result.test
        bits = f"; {test.bits_per_dim:.4f} bits/dim" if test.bits_per_dim is not None else ""
        return (f"Epoch {result.epoch}: train loss {result.train_loss:.2f}, test loss {test.loss:.2f} "
                f"(reconstruction {test.reconstruction:.2f}, KL {test.kl:.2f}) nats per image{bits}")


def batches_per_epoch(history: TrainingHistory, batch_size: int) -> int | None:
    """Steps per epoch of a saved run, from its first epoch's image count (rate x seconds)."""
    if not history.epochs or batch_size <= 0:
        return None
    first = history.epochs[0]
    images = round(first.samples_per_second * first.seconds)
    if images <= 0:
        return None
    return math.ceil(images / batch_size)
