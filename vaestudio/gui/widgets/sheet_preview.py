"""The export dialog's preview: a sheet drawn whole, at a whole-number zoom, never scrolled.

A sheet that fits is drawn at the largest whole zoom that fits (nearest neighbour, so its
pixels stay square); a larger one at 1/2, 1/3, … of its size, whichever is the first to fit.
`pixmap()` is the sheet itself, pixel for pixel (what Save writes).
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

MARGIN = 2


def whole_zoom(image: QSize, area: QSize) -> float:
    """The zoom a sheet of size `image` is shown at in `area`: n >= 1 where it fits, else 1/n."""
    if image.isEmpty() or area.isEmpty():
        return 1.0
    if image.width() <= area.width() and image.height() <= area.height():
        return float(min(area.width() // image.width(), area.height() // image.height()))
    return 1.0 / max(math.ceil(image.width() / area.width()), math.ceil(image.height() / area.height()))


class SheetPreview(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap = QPixmap()
        self._message = ""
        self.setMinimumSize(360, 300)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def setPixmap(self, pixmap: QPixmap) -> None:  # noqa: N802 (QLabel's name, which the dialog used)
        self._pixmap = pixmap
        self._message = ""
        self.update()

    def setText(self, message: str) -> None:  # noqa: N802 (QLabel's name)
        self._pixmap = QPixmap()
        self._message = message
        self.update()

    def pixmap(self) -> QPixmap:
        """The sheet shown, at its own size."""
        return self._pixmap

    def text(self) -> str:
        return self._message

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        if self._pixmap.isNull():
            return QSize(420, 360)
        return self._pixmap.size().grownBy(self.contentsMargins()) + QSize(2 * MARGIN, 2 * MARGIN)

    def zoom(self) -> float:
        """Screen pixels per sheet pixel as drawn now."""
        return whole_zoom(self._pixmap.size(), self._area().size())

    def _area(self) -> QRect:
        return self.rect().adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Base))
        area = self._area()
        if self._pixmap.isNull():
            painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._message)
            return
        zoom = self.zoom()
        width, height = round(self._pixmap.width() * zoom), round(self._pixmap.height() * zoom)
        target = QRect(area.x() + (area.width() - width) // 2, area.y() + (area.height() - height) // 2, width, height)
        # Enlarged: square pixels (nearest neighbour). Reduced by a whole factor: averaged, not skipped.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, zoom < 1)
        painter.drawPixmap(target, self._pixmap)
