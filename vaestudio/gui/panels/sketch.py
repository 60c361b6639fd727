"""A sketch pad: draw a digit, see where the encoder puts it and what the decoder makes of it.

The pad is a whole number of canvas pixels per image pixel (ten at 28x28). On every stroke
(live while drawing, and once more when the button is released) the drawing becomes an image
of the model's size: for a grayscale model white ink (optionally normalised like the MNIST
digits: fitted into 20x20 and centred by mass), for a colour model ink of the colour chosen
in the Ink box, averaged down as drawn. It is encoded with
the core's `encode_images`, and the panel shows its reconstruction, emits its posterior
for the latent map and lists its nearest test images by encoded mean (the test split is
encoded once per model change, as a background job of the window's runner, by `TestSetScores`).
"""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from vaestudio.core.data.datasets import ImageDataset
from vaestudio.core.latent.reconstruction import MNIST_BOX, colour_drawing_to_image, drawing_to_image, nearest_images
from vaestudio.core.latent.space import decode_latents, encode_images
from vaestudio.core.models.networks import IMAGE_SIZE
from vaestudio.gui.jobs import JobRunner
from vaestudio.gui.model_session import ModelSession
from vaestudio.gui.panels.reconstruction import TestSetScores
from vaestudio.gui.widgets.image_preview import ImagePreview
from vaestudio.gui.widgets.image_strip import ImageGrid

CANVAS_SCALE = 10           # canvas pixels per image pixel at 28x28 ...
CANVAS_SIDE = IMAGE_SIZE * CANVAS_SCALE  # ... and about this many canvas pixels a side at every size
DEFAULT_BRUSH = 2.0         # in image pixels
UNDO_LIMIT = 50
NEIGHBOURS = 8
INK_COLOURS = {"white": (255, 255, 255), "red": (230, 57, 70), "orange": (244, 162, 97), "yellow": (233, 216, 76),
               "green": (82, 183, 136), "blue": (69, 123, 230), "purple": (181, 101, 216)}


def canvas_scale(image_size: int) -> int:
    """Canvas pixels per image pixel: 10 at 28x28, 8 at 32x32, 4 at 64x64."""
    return max(1, CANVAS_SIDE // image_size)


class SketchCanvas(QWidget):
    """Ink (white, or a chosen colour) on black, drawn with a round brush; keeps an undo stack of whole canvases."""

    strokeMoved = Signal()     # the ink changed during a stroke
    strokeFinished = Signal()  # a stroke ended
    inkReplaced = Signal()     # cleared, undone, or set from pixels

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.brush = DEFAULT_BRUSH
        self.image_size = IMAGE_SIZE
        self.scale = CANVAS_SCALE
        self.side = CANVAS_SIDE
        self.ink_colour = QColor(255, 255, 255)
        self.show_fit_box = True  # the dotted box MNIST digits fill
        self._image = QImage(self.side, self.side, QImage.Format.Format_RGB32)
        self._image.fill(Qt.GlobalColor.black)
        self._undo: list[QImage] = []
        self._last: QPointF | None = None
        self.setMinimumSize(IMAGE_SIZE * 7, IMAGE_SIZE * 7)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(CANVAS_SIDE, CANVAS_SIDE)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt override)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt override)
        return width

    # ------------------------------------------------------------------- state
    def set_image_size(self, image_size: int) -> None:
        """A blank pad for images of `image_size` pixels a side (the drawing and its undo steps go)."""
        if image_size == self.image_size:
            return
        self.image_size, self.scale = image_size, canvas_scale(image_size)
        self.side = image_size * self.scale
        self._image = QImage(self.side, self.side, QImage.Format.Format_RGB32)
        self._image.fill(Qt.GlobalColor.black)
        self._undo.clear()
        self.update()
        self.inkReplaced.emit()

    def picture(self) -> np.ndarray:
        """The canvas as float32 RGB (side, side, 3) in [0, 1]."""
        buffer = np.frombuffer(self._image.constBits(), dtype=np.uint8)
        pixels = buffer.reshape(self.side, self._image.bytesPerLine() // 4, 4)[:, :self.side, 2::-1]  # BGRA
        return pixels.astype(np.float32) / 255.0

    def ink(self) -> np.ndarray:
        """The canvas as float32 (side, side) ink in [0, 1]: the brightest channel of each pixel."""
        return self.picture().max(axis=2)

    def is_blank(self) -> bool:
        return not self.ink().any()

    def can_undo(self) -> bool:
        return bool(self._undo)

    def _remember(self) -> None:
        self._undo.append(self._image.copy())
        del self._undo[:-UNDO_LIMIT]

    def clear(self) -> None:
        if not self.is_blank():
            self._remember()
        self._image.fill(Qt.GlobalColor.black)
        self.update()
        self.inkReplaced.emit()

    def undo(self) -> None:
        if self._undo:
            self._image = self._undo.pop()
            self.update()
            self.inkReplaced.emit()

    def set_pixels(self, pixels: np.ndarray) -> None:
        """Replace the drawing by a uint8 image of the pad's size, (S, S) or (S, S, 3), each pixel a
        `scale`-square block (undoable)."""
        pixels = np.asarray(pixels, dtype=np.uint8)
        if pixels.ndim == 2:
            pixels = np.repeat(pixels[..., None], 3, axis=2)
        pixels = pixels.reshape(self.image_size, self.image_size, 3)
        block = pixels.repeat(self.scale, axis=0).repeat(self.scale, axis=1)
        bgra = np.empty((self.side, self.side, 4), np.uint8)
        bgra[..., :3] = block[..., ::-1]
        bgra[..., 3] = 255
        self._remember()
        self._image = QImage(bgra.data, self.side, self.side, self.side * 4, QImage.Format.Format_RGB32).copy()
        self.update()
        self.inkReplaced.emit()

    # ----------------------------------------------------------------- drawing
    def begin_stroke(self, point: QPointF) -> None:
        """Start a stroke at a canvas point (canvas pixels); a single click leaves a dot."""
        self._remember()
        self._last = point
        self._draw(point, point)
        self.update()  # all of it once: the "Draw a digit here" hint goes
        self.strokeMoved.emit()

    def continue_stroke(self, point: QPointF) -> None:
        if self._last is None:
            return
        self._draw(self._last, point)
        self._last = point
        self.strokeMoved.emit()

    def end_stroke(self) -> None:
        if self._last is not None:
            self._last = None
            self.strokeFinished.emit()

    def _draw(self, start: QPointF, end: QPointF) -> None:
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(self.ink_colour, self.brush * self.scale, Qt.PenStyle.SolidLine,
                            Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        painter.drawLine(start, end)
        painter.end()
        margin = self.brush * self.scale
        dirty = QRectF(start, end).normalized().adjusted(-margin, -margin, margin, margin)
        self.update(self._to_widget(dirty).toAlignedRect())

    # ------------------------------------------------------------ widget events
    def _canvas_rect(self) -> QRectF:
        """The square the pad is shown in: a whole number of screen pixels per image pixel, centred."""
        side = min(self.width(), self.height())
        size = self.image_size
        side = max(side // size, 1) * size if side >= size else side
        return QRectF((self.width() - side) // 2, (self.height() - side) // 2, side, side)

    def zoom(self) -> float:
        """Screen pixels per image pixel of the pad as shown."""
        return self._canvas_rect().width() / self.image_size

    def _to_widget(self, canvas_rect: QRectF) -> QRectF:
        """A rectangle in canvas pixels where it is shown on the widget (only that part repaints while drawing)."""
        rect = self._canvas_rect()
        scale = rect.width() / self.side
        return QRectF(rect.x() + canvas_rect.x() * scale, rect.y() + canvas_rect.y() * scale,
                      canvas_rect.width() * scale, canvas_rect.height() * scale).adjusted(-1, -1, 1, 1)

    def _to_canvas(self, event: QMouseEvent) -> QPointF:
        rect = self._canvas_rect()
        scale = self.side / rect.width()
        return QPointF((event.position().x() - rect.x()) * scale, (event.position().y() - rect.y()) * scale)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton:
            self.begin_stroke(self._to_canvas(event))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.continue_stroke(self._to_canvas(event))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton:
            self.end_stroke()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        rect = self._canvas_rect()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(rect, self._image)
        if self.show_fit_box:
            painter.setPen(QPen(QColor(80, 80, 80), 1, Qt.PenStyle.DotLine))
            box = rect.width() * (IMAGE_SIZE - MNIST_BOX) / 2 / IMAGE_SIZE  # the 20x20 box MNIST digits fill
            painter.drawRect(rect.adjusted(box, box, -box, -box))
        if self.is_blank():
            painter.setPen(QColor(170, 170, 170))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "Draw a digit here" if self.show_fit_box
                             else "Draw here")


class SketchPanel(QWidget):
    """The pad, what the encoder sees, its reconstruction, and its nearest test images."""

    sketchEncoded = Signal(object, object)  # mu (D,), logvar (D,) of the drawing's posterior
    sketchCleared = Signal()                # the pad is blank again: remove the drawing from the map

    def __init__(self, session: ModelSession, parent: QWidget | None = None, jobs: JobRunner | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.dataset: ImageDataset | None = None
        self.pixels = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)  # the encoder's input: (S, S) or (S, S, 3)
        self.mu: np.ndarray | None = None
        self.logvar: np.ndarray | None = None
        self.neighbours = np.zeros(0, np.int64)
        self._test_images: np.ndarray | None = None
        self._test_labels: np.ndarray | None = None
        self._scores_stale = False
        self.jobs = JobRunner(self) if jobs is None else jobs  # alone it brings its own; in the window it shares one
        self.test_scores = TestSetScores(self.jobs, "sketch: neighbours", self)

        self.canvas = SketchCanvas()
        self.brush_spin = QDoubleSpinBox()
        self.brush_spin.setRange(0.5, 5.0)
        self.brush_spin.setSingleStep(0.25)
        self.brush_spin.setValue(DEFAULT_BRUSH)
        self.brush_spin.setSuffix(" px")
        self.brush_spin.setToolTip("Brush width in image pixels")
        self.clear_button = QPushButton("Clear")
        self.undo_button = QPushButton("Undo")
        self.mnist_box = QCheckBox("Fit like MNIST")
        self.mnist_box.setChecked(True)
        self.mnist_box.setToolTip("Scale the drawing into a 20 x 20 box and centre it by mass, as the MNIST digits "
                                  "were prepared; off: the pad averaged down to the model's size as drawn")
        self.ink_label = QLabel("Ink")
        self.ink_box = QComboBox()
        for name, (red, green, blue) in INK_COLOURS.items():
            self.ink_box.addItem(name, QColor(red, green, blue))
        self.ink_box.setToolTip("The colour the pad draws in (colour models; grayscale models draw white)")
        self.input_preview = ImagePreview("Encoder input", minimum_side=56, caption_lines=1)
        self.reconstruction_preview = ImagePreview("Reconstruction", minimum_side=56, caption_lines=2)
        self.neighbour_grid = ImageGrid(columns=0, gap=6, placeholder="Nearest test images appear here.")
        self.neighbour_label = QLabel("<b>Nearest test images</b> (by encoded mean)")
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(0)

        tools = QHBoxLayout()
        tools.addWidget(QLabel("Brush"))
        tools.addWidget(self.brush_spin)
        tools.addWidget(self.clear_button)
        tools.addWidget(self.undo_button)
        tools.addWidget(self.mnist_box)
        tools.addWidget(self.ink_label)
        tools.addWidget(self.ink_box)
        tools.addStretch(1)
        outputs = QVBoxLayout()
        outputs.addWidget(self.input_preview, 1)
        outputs.addWidget(self.reconstruction_preview, 1)
        self.neighbour_label.setWordWrap(True)
        neighbours = QVBoxLayout()
        neighbours.addWidget(self.neighbour_label)
        neighbours.addWidget(self.neighbour_grid, 1)
        # Side by side: the pad (as tall as the panel), what the encoder sees and its reconstruction, the neighbours.
        body = QHBoxLayout()
        body.addWidget(self.canvas, 3)
        body.addLayout(outputs, 1)
        body.addLayout(neighbours, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(tools)
        layout.addLayout(body, 1)

        self.brush_spin.valueChanged.connect(self._set_brush)
        self.clear_button.clicked.connect(self.canvas.clear)
        self.undo_button.clicked.connect(self.canvas.undo)
        self.mnist_box.toggled.connect(self.encode_drawing)
        self.ink_box.currentIndexChanged.connect(self._set_ink_colour)
        self.canvas.strokeMoved.connect(self._live_timer.start)
        self._live_timer.timeout.connect(self.encode_drawing)
        self.canvas.strokeFinished.connect(self.encode_drawing)
        self.canvas.inkReplaced.connect(self.encode_drawing)
        self.test_scores.ready.connect(self._show_neighbours)
        self.test_scores.failed.connect(self.neighbour_label.setText)
        session.modelChanged.connect(self._on_model_changed)
        session.weightsUpdated.connect(self._on_model_changed)
        self._apply_model_shape()
        self.encode_drawing()

    # ------------------------------------------------------------------ inputs
    def _set_brush(self, width: float) -> None:
        self.canvas.brush = width

    def _set_ink_colour(self) -> None:
        self.canvas.ink_colour = QColor(self.ink_box.currentData()) if self.colour else QColor(255, 255, 255)

    @property
    def colour(self) -> bool:
        """Whether the model shown takes colour images."""
        model = self.session.model
        return model is not None and model.config.channels == 3

    def _apply_model_shape(self) -> None:
        """The pad at the model's image size; the ink colour and the MNIST fit where they apply."""
        model = self.session.model
        self.canvas.set_image_size(model.config.image_size if model is not None else IMAGE_SIZE)
        for widget in (self.ink_label, self.ink_box):
            widget.setVisible(self.colour)
        self.mnist_box.setVisible(not self.colour)
        self.canvas.show_fit_box = not self.colour
        self._set_ink_colour()

    def set_test_data(self, dataset: ImageDataset | None) -> None:
        self.dataset = dataset
        # numpy views of the test images for the neighbour thumbnails: no torch call on the drawing path
        self._test_images = dataset.images.cpu().numpy() if dataset is not None else None
        self._test_labels = dataset.labels.cpu().numpy() if dataset is not None else None
        self._rescore()
        self._show_neighbours()

    def _on_model_changed(self) -> None:
        self._apply_model_shape()
        self._rescore()
        self.encode_drawing()

    def _rescore(self) -> None:
        """Encode the test split for neighbours now if the panel is shown, else when it is first shown."""
        self.test_scores.reset()
        self._scores_stale = not self.isVisible()
        if not self._scores_stale:
            self.test_scores.compute(self.session.snapshot(), self.dataset.images if self.dataset is not None else None)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._scores_stale:
            self._rescore()
            self._show_neighbours()

    # ---------------------------------------------------------------- encoding
    def encode_drawing(self) -> None:
        """Turn the pad into the encoder's input, encode it, and show and emit the result."""
        self._live_timer.stop()
        self.undo_button.setEnabled(self.canvas.can_undo())
        model = self.session.model
        size = self.canvas.image_size
        if self.colour:
            self.pixels = colour_drawing_to_image(self.canvas.picture(), size)
        else:
            self.pixels = drawing_to_image(self.canvas.ink(), self.mnist_box.isChecked(), size)
        self.input_preview.set_image(self.pixels.astype(np.float32) / 255.0, "what the encoder sees")
        if model is None or not self.pixels.any():
            self.mu = self.logvar = None
            self.reconstruction_preview.set_message("Load a model first." if model is None else "Draw a digit.")
            self._show_neighbours()
            self.sketchCleared.emit()
            return
        encoded = encode_images(model, torch.from_numpy(self.pixels[None]))
        self.mu, self.logvar = encoded.mu[0], encoded.logvar[0]
        spread = float(np.exp(0.5 * self.logvar).mean())
        self.reconstruction_preview.set_image(decode_latents(model, self.mu)[0],
                                              f"‖μ‖ = {np.linalg.norm(self.mu):.2f}, mean σ = {spread:.2f}")
        self._show_neighbours()
        self.sketchEncoded.emit(self.mu.copy(), self.logvar.copy())

    def _show_neighbours(self) -> None:
        scores, dataset = self.test_scores.scores, self.dataset
        self.neighbours = np.zeros(0, np.int64)
        if dataset is None or self.session.model is None:
            self.neighbour_grid.clear("Nearest test images appear once a model and the test images are loaded.")
            return
        if scores is None or scores.mu.shape[1] != self.session.model.latent_dim:
            self.neighbour_grid.clear("Encoding the test images…")
            return
        if self.mu is None:
            self.neighbour_grid.clear("Draw a digit to see the test images nearest to it in latent space.")
            return
        self.neighbours, distances = nearest_images(scores.mu, self.mu, NEIGHBOURS)
        names = dataset.class_names
        captions = []
        for label, distance in zip(self._test_labels[self.neighbours].tolist(), distances):
            captions.append(f"{names[label] if 0 <= label < len(names) else label} · {distance:.2f}")
        self.neighbour_grid.set_images(self._test_images[self.neighbours], captions=captions)
        self.neighbour_label.setText("<b>Nearest test images</b> by encoded mean (class · distance in latent space)")
