"""A grid of small images shown crisp (whole-pixel scale, no smoothing), for strips and sheets.

Each tile may carry a caption underneath; rows may carry a label on the left and be dimmed
(e.g. an inactive latent dimension); one tile may be highlighted; clicking a tile emits its
index. The explorer panels use it for the interpolation strip, the reconstruction pairs,
the traversal grid and the sketch pad's nearest neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFontMetrics,
    QImage,
    QMouseEvent,
    QPainter,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from vaestudio.gui.widgets.image_preview import to_qimage

HIGHLIGHT_COLOUR = QColor(255, 127, 14)   # the orange the latent map uses for marks
DIMMED_OVERLAY = QColor(255, 255, 255, 150)


def as_float_images(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W[, 3]) or float images in [0, 1] as float32 in [0, 1]."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return images.astype(np.float32, copy=False)


def side_by_side(left: np.ndarray, right: np.ndarray, gap: float = 0.5) -> np.ndarray:
    """Pairs of float images (N, H, W[, 3]) joined left to right with a one-pixel grey column between."""
    left, right = as_float_images(left), as_float_images(right)
    column = np.full((left.shape[0], left.shape[1], 1) + left.shape[3:], gap, dtype=np.float32)
    return np.concatenate([left, column, right], axis=2)


class ImageGrid(QWidget):
    """Tiles laid out `columns` to a row, each scaled by the same whole number where there is room."""

    tileClicked = Signal(int)

    def __init__(self, columns: int = 8, gap: int = 4, minimum_tile: int = 28, placeholder: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.columns = max(1, columns)  # 0 or less: as many as give the largest tiles
        self.gap = gap
        self.minimum_tile = minimum_tile
        self._images = np.zeros((0, 28, 28), dtype=np.float32)
        self._qimages: list[QImage] = []
        self._captions: list[str] = []
        self._row_labels: list[str] = []
        self._column_labels: list[str] = []
        self._dimmed_rows: list[bool] = []
        self._highlight: int | None = None
        self._placeholder = placeholder
        self.auto_columns = columns <= 0
        self._layout_cache: tuple | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)  # at least minimumSizeHint

    # ----------------------------------------------------------------- content
    def set_images(self, images: np.ndarray, columns: int | None = None, captions: Sequence[str] | None = None,
                   row_labels: Sequence[str] | None = None, column_labels: Sequence[str] | None = None,
                   dimmed_rows: Sequence[bool] | None = None) -> None:
        """Show images (N, H, W) or (N, H, W, 3), uint8 or float in [0, 1], first row first."""
        self._images = as_float_images(images).copy()
        if columns is not None:
            self.auto_columns = columns <= 0
            self.columns = max(1, columns)
        self._qimages = [to_qimage(image) for image in self._images]
        self._captions = list(captions or [])
        self._row_labels = list(row_labels or [])
        self._column_labels = list(column_labels or [])
        self._dimmed_rows = list(dimmed_rows or [])
        if self._highlight is not None and self._highlight >= len(self._qimages):
            self._highlight = None
        self._layout_cache = None
        self.updateGeometry()
        self.update()

    def clear(self, placeholder: str | None = None) -> None:
        if placeholder is not None:
            self._placeholder = placeholder
        self.set_images(np.zeros((0, 28, 28), dtype=np.float32))
        self._highlight = None

    def images(self) -> np.ndarray:
        """The images shown, as float32 in [0, 1] (a copy)."""
        return self._images.copy()

    def captions(self) -> list[str]:
        return list(self._captions)

    def dimmed_rows(self) -> list[bool]:
        return list(self._dimmed_rows)

    def count(self) -> int:
        return len(self._qimages)

    def set_highlight(self, index: int | None) -> None:
        self._highlight = index if index is not None and 0 <= index < self.count() else None
        self.update()

    def highlight(self) -> int | None:
        return self._highlight

    @property
    def rows(self) -> int:
        return -(-self.count() // self.columns) if self.count() else 0

    # ------------------------------------------------------------------ layout
    def _text_sizes(self) -> tuple[int, int, int]:
        """Room for captions under each tile, row labels on the left, column labels on top."""
        metrics = QFontMetrics(self.font())
        caption = metrics.height() + 1 if any(self._captions) else 0
        label = max((metrics.horizontalAdvance(text) for text in self._row_labels), default=0)
        label = label + 8 if label else 0
        top = metrics.height() + 2 if any(self._column_labels) else 0
        return caption, label, top

    def _fit(self, columns: int) -> float:
        tile_h, tile_w = self._images.shape[1:3]
        rows = -(-self.count() // columns)
        caption, label, top = self._text_sizes()
        free_w = self.width() - label - self.gap * (columns + 1)
        free_h = self.height() - top - (self.gap + caption) * (rows + 1)
        return min(free_w / (columns * tile_w), free_h / (rows * tile_h))

    def _layout(self) -> tuple[int, int, int, int, int, int]:
        """(columns, tile width, tile height, left, top, caption height), cached per size and content."""
        key = (self.width(), self.height(), self.count(), self.columns, self.auto_columns)
        if self._layout_cache is not None and self._layout_cache[0] == key:
            return self._layout_cache[1]
        if self.auto_columns and self.count():
            self.columns = max(range(1, self.count() + 1), key=lambda columns: (round(self._fit(columns), 6), -columns))
            key = (self.width(), self.height(), self.count(), self.columns, self.auto_columns)
        tile_h, tile_w = self._images.shape[1:3]
        fit = self._fit(self.columns) if self.count() else 1.0
        scale = float(int(fit)) if fit >= 1 else max(fit, 0.25)
        caption, label, top = self._text_sizes()
        width, height = round(tile_w * scale), round(tile_h * scale)
        total_w = label + self.columns * width + (self.columns - 1) * self.gap
        total_h = top + self.rows * (height + caption) + (self.rows - 1) * self.gap
        left = max(0, (self.width() - total_w) // 2) + label
        upper = max(0, (self.height() - total_h) // 2) + top
        layout = (self.columns, width, height, left, upper, caption)
        self._layout_cache = (key, layout)
        return layout

    def height_for_width(self, width: int, most: int = 0) -> int:
        """The height that shows the tiles as large as `width` allows (a whole number of screen pixels per image
        pixel, at least 1; at most `most` when given)."""
        if not self.count():
            return self.minimumSizeHint().height()
        tile_h, tile_w = self._images.shape[1:3]
        caption, label, top = self._text_sizes()
        scale = max(1, (width - label - self.gap * (self.columns + 1)) // (self.columns * tile_w))
        if most:
            scale = min(scale, most)
        return top + (self.gap + caption) * (self.rows + 1) + self.rows * tile_h * scale  # as `_fit` counts

    def scale(self) -> float:
        """Screen pixels per image pixel of the tiles as drawn now (whole where there is room for 1:1)."""
        if not self.count():
            return 0.0
        return self._layout()[1] / self._images.shape[2]

    def tile_rect(self, index: int) -> QRect:
        """Where tile `index` is drawn, in widget coordinates."""
        columns, width, height, left, upper, caption = self._layout()
        row, column = divmod(index, columns)
        return QRect(left + column * (width + self.gap), upper + row * (height + caption + self.gap), width, height)

    def index_at(self, x: float, y: float) -> int:
        for index in range(self.count()):
            if self.tile_rect(index).contains(int(x), int(y)):
                return index
        return -1

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        if not self.count():
            return QSize(240, 80)
        tile_h, tile_w = self._images.shape[1:3]
        caption, label, top = self._text_sizes()
        scale = max(1, round(56 / max(tile_h, tile_w)))
        width = label + self.columns * (tile_w * scale + self.gap) + self.gap
        height = top + self.rows * (tile_h * scale + caption + self.gap) + self.gap
        return QSize(width, height)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        if not self.count():
            return QSize(60, 40)
        tile_h, tile_w = self._images.shape[1:3]
        caption, label, top = self._text_sizes()
        scale = self.minimum_tile / max(tile_h, tile_w)
        # Auto columns: the height of two rows (the widest layout it may take), not of the columns chosen last.
        columns = -(-self.count() // 2) if self.auto_columns else self.columns
        rows = -(-self.count() // columns)
        width = label + columns * (round(tile_w * scale) + self.gap) + self.gap
        height = top + rows * (round(tile_h * scale) + caption + self.gap) + self.gap
        return QSize(min(width, 400), height)

    # ---------------------------------------------------------------- painting
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Window))
        if not self.count():
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect().adjusted(6, 6, -6, -6),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        metrics = QFontMetrics(self.font())
        text_colour = palette.color(QPalette.ColorRole.WindowText)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        for index, qimage in enumerate(self._qimages):
            rect = self.tile_rect(index)
            painter.drawImage(rect, qimage)
            row, column = divmod(index, self.columns)
            dimmed = row < len(self._dimmed_rows) and self._dimmed_rows[row]
            if dimmed:
                painter.fillRect(rect, DIMMED_OVERLAY)
            if index < len(self._captions) and self._captions[index]:
                painter.setPen(muted if dimmed else text_colour)
                text = metrics.elidedText(self._captions[index], Qt.TextElideMode.ElideRight, rect.width() + self.gap)
                painter.drawText(QRect(rect.left() - self.gap // 2, rect.bottom() + 1, rect.width() + self.gap,
                                       metrics.height()), Qt.AlignmentFlag.AlignHCenter, text)
            if column == 0 and row < len(self._row_labels):
                painter.setPen(muted if dimmed else text_colour)
                painter.drawText(QRect(0, rect.top(), rect.left() - 6, rect.height()),
                                 Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, self._row_labels[row])
            if row == 0 and column < len(self._column_labels):
                painter.setPen(muted)
                painter.drawText(QRect(rect.left() - self.gap, rect.top() - metrics.height() - 2,
                                       rect.width() + 2 * self.gap, metrics.height()),
                                 Qt.AlignmentFlag.AlignHCenter, self._column_labels[column])
        if self._highlight is not None:
            painter.setPen(QPen(HIGHLIGHT_COLOUR, 3))
            painter.drawRect(QRectF(self.tile_rect(self._highlight)).adjusted(-2, -2, 1, 1))

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton:
            index = self.index_at(event.position().x(), event.position().y())
            if index >= 0:
                self.tileClicked.emit(index)
                return
        super().mousePressEvent(event)
