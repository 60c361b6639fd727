"""A small image (grayscale or colour) shown large and crisp (nearest neighbour, whole-pixel scale) with a caption."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget


def describe_vector(z: np.ndarray) -> str:
    """A latent vector as a caption: z = [0.12, -1.30, ...]."""
    return "z = [" + ", ".join(f"{value:.2f}" for value in np.asarray(z).ravel()) + "]"


def picture_layout(image: np.ndarray) -> np.ndarray:
    """One image as (H, W) or (H, W, 3): grayscale (H, W) and pictures (H, W, 1|3) as they are, channel-first
    tensors (1|3, H, W) moved to the picture layout. Images are at least 28 pixels a side, so an axis of
    1 or 3 is the channels'."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[2] not in (1, 3):
        image = np.moveaxis(image, 0, 2)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3):
        return image
    raise ValueError(f"an image of shape {image.shape} is neither (H, W), (H, W, 1|3) nor (1|3, H, W)")


def to_qimage(image: np.ndarray) -> QImage:
    """A float image in [0, 1] or a uint8 one, grayscale or RGB in any layout `picture_layout` takes, as an
    8-bit grayscale or RGB QImage that owns its pixels."""
    image = picture_layout(image)
    if image.dtype != np.uint8:
        image = np.clip(np.asarray(image, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    pixels = np.ascontiguousarray(image)
    height, width = pixels.shape[:2]
    if pixels.ndim == 2:
        return QImage(pixels.data, width, height, width, QImage.Format.Format_Grayscale8).copy()
    return QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def crisp_rect(image_size: QSize, area: QRect) -> QRect:
    """The largest rectangle of `area` showing the image at a whole-number scale, centred.

    Falls back to a fractional scale only when the area is smaller than the image itself.
    """
    width, height = image_size.width(), image_size.height()
    fit = min(area.width() / width, area.height() / height)
    scale = max(int(fit), 1) if fit >= 1 else fit
    shown = QSize(max(1, round(width * scale)), max(1, round(height * scale)))
    return QRect(area.x() + (area.width() - shown.width()) // 2, area.y() + (area.height() - shown.height()) // 2,
                 shown.width(), shown.height())


class ImageCanvas(QWidget):
    """Paints one image (grayscale or colour), scaled without smoothing, or a short message."""

    def __init__(self, minimum_side: int = 84, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._qimage: QImage | None = None
        self._message = ""
        self.setMinimumSize(minimum_side, minimum_side)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_image(self, image: np.ndarray | None) -> None:
        self._qimage = None if image is None else to_qimage(image)
        self._message = ""
        self.update()

    def set_message(self, message: str) -> None:
        self._qimage = None
        self._message = message
        self.update()

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt override)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt override)
        return width

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        side = max(self.minimumWidth(), 168)
        return QSize(side, side)

    def zoom(self) -> float:
        """Screen pixels per image pixel as drawn now (whole wherever the canvas is at least the image's size)."""
        if self._qimage is None or self._qimage.width() == 0:
            return 0.0
        return crisp_rect(self._qimage.size(), self.rect()).width() / self._qimage.width()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Window))
        if self._qimage is None:
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            painter.drawText(self.rect().adjusted(6, 6, -6, -6), flags, self._message)
            return
        target = crisp_rect(self._qimage.size(), self.rect())
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(target, self._qimage)
        painter.setPen(QColor(128, 128, 128, 160))
        painter.drawRect(target.adjusted(0, 0, -1, -1))


class ImagePreview(QWidget):
    """A title, a crisp image and a caption underneath (selectable, for copying coordinates)."""

    def __init__(self, title: str = "", minimum_side: int = 84, parent: QWidget | None = None,
                 caption_lines: int = 0) -> None:
        super().__init__(parent)
        self._image: np.ndarray | None = None
        self._caption = ""
        self.caption_lines = caption_lines  # at most this many lines shown (the whole caption in its tooltip); 0: all
        self.title_label = QLabel(title)
        self.title_label.setStyleSheet("font-weight: 600;")
        self.title_label.setVisible(bool(title))
        self.canvas = ImageCanvas(minimum_side)
        self.caption_label = QLabel()
        self.caption_label.setWordWrap(True)
        self.caption_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.caption_label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addWidget(self.title_label)
        layout.addWidget(self.canvas, 100)
        layout.addWidget(self.caption_label)
        layout.addStretch(1)  # what the canvas leaves (it is no taller than its image at whole zoom): the caption
        if caption_lines:     # stays right under the image
            self.caption_label.setMaximumHeight(caption_lines * self.caption_label.fontMetrics().lineSpacing() + 2)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._fit_canvas()

    def _fit_canvas(self) -> None:
        """Make the canvas as tall as the image at the largest whole zoom the preview has room for."""
        height, width = self._image.shape[:2] if self._image is not None else (28, 28)
        spacing = self.layout().spacing()
        caption = min(max(self.caption_label.heightForWidth(self.width()), 0), self.caption_label.maximumHeight())
        spare = self.height() - caption - spacing
        if self.title_label.isVisibleTo(self):
            spare -= self.title_label.sizeHint().height() + spacing
        zoom = max(1, min(self.width() // width, spare // height))
        tallest = max(self.canvas.minimumHeight(), zoom * height)
        if self.canvas.maximumHeight() != tallest:
            self.canvas.setMaximumHeight(tallest)

    def _set_caption(self, caption: str) -> None:
        changed = caption != self._caption
        self._caption = caption
        self.caption_label.setText(caption)
        self.caption_label.setToolTip(caption if self.caption_lines else "")
        if changed:
            self._fit_canvas()

    def set_image(self, image: np.ndarray | None, caption: str = "") -> None:
        """Show a float image in [0, 1]: (H, W) grayscale or (H, W, 3) colour."""
        self._image = None if image is None else np.array(image, dtype=np.float32)
        self.canvas.set_image(self._image)
        self._set_caption(caption)

    def set_message(self, message: str, caption: str = "") -> None:
        self._image = None
        self.canvas.set_message(message)
        self._set_caption(caption)

    def image(self) -> np.ndarray | None:
        """The image shown now (a copy of what was given), or None."""
        return self._image

    def caption(self) -> str:
        return self._caption


class SampleView(QWidget):
    """A dataset image beside its reconstruction, with a caption (its index and label); the images grow
    (by whole screen pixels per image pixel) with the room given."""

    def __init__(self, parent: QWidget | None = None, minimum_side: int = 56) -> None:
        super().__init__(parent)
        self.original = ImagePreview("Original", minimum_side=minimum_side)
        self.reconstruction = ImagePreview("Reconstruction", minimum_side=minimum_side)
        self.caption_label = QLabel()
        self.caption_label.setWordWrap(True)
        pair = QHBoxLayout()
        pair.setContentsMargins(0, 0, 0, 0)
        pair.addWidget(self.original)
        pair.addWidget(self.reconstruction)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(pair)
        layout.addWidget(self.caption_label)
        self.clear()

    def set_sample(self, original: np.ndarray, reconstruction: np.ndarray, caption: str) -> None:
        self.original.set_image(original)
        self.reconstruction.set_image(reconstruction)
        self.caption_label.setText(caption)

    def clear(self, message: str = "Click a point") -> None:
        self.original.set_message(message)
        self.reconstruction.set_message("")
        self.caption_label.clear()

    def caption(self) -> str:
        return self.caption_label.text()
