"""KL per latent dimension as a bar chart, updated at each epoch end, with the active-unit count.

A dimension whose KL to the prior stays near zero carries no information about the image
(posterior collapse); its bar turns grey, so a collapsing posterior is visible at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from vaestudio.core.training.evaluation import ACTIVE_UNIT_THRESHOLD

INFORMATIVE_KL = 0.05  # nats; below this a dimension's bar is drawn as collapsed
USED_COLOUR = (31, 119, 180)
COLLAPSED_COLOUR = (185, 185, 185)
STUB_HEIGHT = 0.015  # of the axis: the least height a collapsed dimension's grey bar is drawn with


class KLBars(QWidget):
    """One bar per latent dimension: its mean KL(q(z_i | x) || N(0, 1)) over the test set."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kl = np.zeros(0)
        self.active_units: int | None = None
        self.plot_widget = pg.PlotWidget()
        self.plot_item = self.plot_widget.getPlotItem()
        self.plot_item.setLabel("bottom", "latent dimension")
        self.plot_item.setLabel("left", "KL (nats)")
        self.plot_item.getAxis("left").enableAutoSIPrefix(False)
        self.plot_item.getAxis("left").setStyle(hideOverlappingLabels=False)
        self.plot_item.layout.setContentsMargins(2, 10, 6, 2)
        self.plot_item.setMouseEnabled(x=False, y=False)
        self.plot_item.hideButtons()
        self.bars = pg.BarGraphItem(x=np.zeros(0), height=np.zeros(0), width=0.8)
        self.plot_item.addItem(self.bars)
        self.title = QLabel()
        self.title.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.plot_widget, 1)
        self.clear()

    def show_kl(self, kl_per_dim: Sequence[float], active_units: int | None = None) -> None:
        """Show an epoch's KL per dimension and the active-unit count (variance of mu above the threshold)."""
        self.kl = np.asarray(kl_per_dim, dtype=np.float64).reshape(-1)
        self.active_units = active_units
        count = len(self.kl)
        x = np.arange(count, dtype=np.float64)
        collapsed = self.kl < INFORMATIVE_KL
        brushes = [pg.mkBrush(COLLAPSED_COLOUR if flag else USED_COLOUR) for flag in collapsed]
        top = max(float(self.kl.max()), INFORMATIVE_KL) * 1.05 if count else 1.0
        heights = np.where(collapsed, np.maximum(self.kl, STUB_HEIGHT * top), self.kl)  # a collapsed bar stays visible
        self.bars.setOpts(x=x, height=heights, width=0.8, brushes=brushes or None, brush=USED_COLOUR, pens=None,
                          pen=pg.mkPen(None))
        if count:
            self.plot_item.setXRange(-0.7, count - 0.3, padding=0)
            self.plot_item.setYRange(0, top, padding=0.04)
            axis = self.plot_item.getAxis("bottom")
            every = max(1, int(np.ceil(count / 16)))
            axis.setTicks([[(index, f"z{index + 1}") for index in range(0, count, every)]])
        self.title.setText(self._title(count))

    def clear(self) -> None:
        self.kl = np.zeros(0)
        self.active_units = None
        self.bars.setOpts(x=np.zeros(0), height=np.zeros(0), brushes=None, brush=USED_COLOUR, pens=None,
                          pen=pg.mkPen(None))
        self.title.setText("<b>KL per latent dimension</b>: shown after the first epoch.")

    def _title(self, count: int) -> str:
        if not count:
            return "<b>KL per latent dimension</b>: no data."
        informative = int((self.kl >= INFORMATIVE_KL).sum())
        active = "" if self.active_units is None else (
            f"<b>{self.active_units} of {count}</b> units active (variance of mu over the test set "
            f"above {ACTIVE_UNIT_THRESHOLD}). ")
        return (f"<b>KL per latent dimension</b> (test set, total {self.kl.sum():.2f} nats). {active}"
                f"{informative} of {count} dimensions carry at least {INFORMATIVE_KL} nats; the grey ones "
                "have collapsed to the prior.")
