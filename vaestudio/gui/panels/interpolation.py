"""Interpolation between two latent points: the decoded strip, the path for the map, and playback.

Each endpoint is a point clicked on the latent map (`use_latent`), the encoded mean of a
test image, or a draw from the prior. The path is the core's `interpolate` (linear or
slerp) and every image is decoded with the core's `decode_latents`. Playing walks a finer
path of the same kind back and forth and shows each frame large.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from vaestudio.core.data.datasets import ImageDataset
from vaestudio.core.latent.space import (
    decode_latents,
    encode_images,
    interpolate,
    sample_prior,
)
from vaestudio.gui.model_session import ModelSession
from vaestudio.gui.widgets.image_preview import ImagePreview
from vaestudio.gui.widgets.image_strip import ImageGrid

METHODS = (("linear", "Linear"), ("slerp", "Spherical (slerp)"))
DEFAULT_STEPS = 10
MAX_STEPS = 64
STRIP_COLUMNS = 16
ENDPOINT_WIDTH = 172  # each end's column: its buttons' width; its image 6x where the height allows
STRIP_MAX_ZOOM = 4  # screen pixels per image pixel in the strip, at most (the frame shown large has more)
ANIMATION_FRAMES = 48
FRAME_INTERVAL_MS = 40
TARGETS = (("alternate", "A, then B, in turn"), ("A", "Endpoint A"), ("B", "Endpoint B"))


@dataclass
class Endpoint:
    """One end of the path and where it came from: 'prior' (detail: the seed), 'test' (the index) or 'map'."""

    z: np.ndarray
    source: str
    detail: int = -1


class _EndpointBox(QWidget):
    """An endpoint's decoded image and the buttons that choose it."""

    priorRequested = Signal(str)
    testRequested = Signal(str)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.preview = ImagePreview(f"Endpoint {name}", minimum_side=56, caption_lines=1)
        self.prior_button = QPushButton("Prior draw")
        self.prior_button.setToolTip("A random draw from the prior N(0, I)")
        self.test_button = QPushButton("Test image")
        self.test_button.setToolTip("The encoded mean of a random test image of the chosen class")
        self.class_box = QComboBox()
        self.class_box.setToolTip("The class the Test image button draws from")
        buttons = QGridLayout()
        buttons.addWidget(self.prior_button, 0, 0)
        buttons.addWidget(self.test_button, 0, 1)
        buttons.addWidget(self.class_box, 1, 0, 1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.preview, 1)
        layout.addLayout(buttons)
        self.prior_button.clicked.connect(self._request_prior)
        self.test_button.clicked.connect(self._request_test)

    def _request_prior(self) -> None:
        self.priorRequested.emit(self.name)

    def _request_test(self) -> None:
        self.testRequested.emit(self.name)

    def set_classes(self, names: list[str]) -> None:
        self.class_box.clear()
        self.class_box.addItem("any class", -1)
        for label, name in enumerate(names):
            self.class_box.addItem(f"class {name}", label)


class InterpolationPanel(QWidget):
    """Two endpoints, the decoded path between them, and a player."""

    pathChanged = Signal(object)      # (steps, D) float32 latents, endpoint A first
    positionChanged = Signal(object)  # (D,) the frame shown large (while playing, or a clicked strip image)

    def __init__(self, session: ModelSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.dataset: ImageDataset | None = None
        self.endpoints: dict[str, Endpoint | None] = {"A": None, "B": None}
        self.path = np.zeros((0, 0), np.float32)
        self.strip_images = np.zeros((0, 28, 28), np.float32)
        self.next_target = "A"
        self._rng = np.random.default_rng()
        self._frames = np.zeros((0, 0), np.float32)
        self._frame = 0
        self._direction = 1

        self.boxes = {"A": _EndpointBox("A"), "B": _EndpointBox("B")}
        self.method_box = QComboBox()
        for key, title in METHODS:
            self.method_box.addItem(title, key)
        self.method_box.setToolTip("Linear: a straight line. Spherical: along the great circle between the two "
                                   "points, which keeps the norm typical of prior draws in many dimensions.")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(2, MAX_STEPS)
        self.steps_spin.setValue(DEFAULT_STEPS)
        self.swap_button = QPushButton("⇄ Swap")
        self.reroll_button = QPushButton("Re-roll")
        self.reroll_button.setToolTip("New random endpoints of the same kinds; map points become prior draws")
        self.play_button = QPushButton("▶ Play")
        self.play_button.setCheckable(True)
        self.target_box = QComboBox()
        for key, title in TARGETS:
            self.target_box.addItem(title, key)
        self.target_box.setToolTip("Which endpoint a click on the latent map sets")
        self.target_label = QLabel()
        self.frame_preview = ImagePreview("Along the path", minimum_side=56, caption_lines=1)
        self.strip = ImageGrid(columns=DEFAULT_STEPS, gap=3, placeholder="Load a model to interpolate.")
        self.strip_title = QLabel("<b>A → B</b>: the decoded path (click an image to show it large)")
        self.timer = QTimer(self)
        self.timer.setInterval(FRAME_INTERVAL_MS)

        settings = QGridLayout()
        settings.addWidget(QLabel("Path"), 0, 0)
        settings.addWidget(self.method_box, 0, 1)
        settings.addWidget(QLabel("Steps"), 1, 0)
        settings.addWidget(self.steps_spin, 1, 1)
        settings.addWidget(QLabel("Map clicks set"), 2, 0)
        settings.addWidget(self.target_box, 2, 1)
        settings.addWidget(self.target_label, 3, 0, 1, 2)
        buttons = QHBoxLayout()
        for button in (self.swap_button, self.reroll_button, self.play_button):
            buttons.addWidget(button)
        settings.addLayout(buttons, 4, 0, 1, 2)
        settings.setRowStretch(5, 1)
        # The strip between its two ends, as large as the room allows; under it the frame shown large and the
        # path's settings.
        under = QHBoxLayout()
        under.addWidget(self.frame_preview, 1)
        under.addLayout(settings)
        middle = QVBoxLayout()
        middle.addWidget(self.strip_title)
        middle.addWidget(self.strip, 1)
        middle.addLayout(under, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        for box in self.boxes.values():  # the strip in the middle gets the width
            box.setFixedWidth(ENDPOINT_WIDTH)
        layout.addWidget(self.boxes["A"])
        layout.addLayout(middle, 1)
        layout.addWidget(self.boxes["B"])

        for box in self.boxes.values():
            box.priorRequested.connect(self.draw_from_prior)
            box.testRequested.connect(self.draw_test_image)
            box.set_classes([])
        self.method_box.currentIndexChanged.connect(self._update_path)
        self.steps_spin.valueChanged.connect(self._update_path)
        self.swap_button.clicked.connect(self.swap)
        self.reroll_button.clicked.connect(self.reroll)
        self.play_button.toggled.connect(self._on_play_toggled)
        self.target_box.currentIndexChanged.connect(self._on_target_changed)
        self.timer.timeout.connect(self._advance)
        self.strip.installEventFilter(self)
        self.strip.tileClicked.connect(self._show_strip_frame)
        session.modelChanged.connect(self._on_model_changed)
        session.weightsUpdated.connect(self._on_weights_updated)
        self._on_model_changed()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt override)
        if (watched is self.strip and event.type() == QEvent.Type.Resize
                and event.size().width() != event.oldSize().width()):
            self._fit_strip()
        return False

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        """The ends' columns widen with the panel (a seventh of it, at least ENDPOINT_WIDTH): larger images on a
        large screen, the strip keeping most of the width."""
        super().resizeEvent(event)
        width = max(ENDPOINT_WIDTH, self.width() // 7)
        for box in self.boxes.values():
            if box.width() != width:
                box.setFixedWidth(width)

    def _fit_strip(self) -> None:
        """The strip as tall as its width lets its images be (at most STRIP_MAX_ZOOM), so it is never squeezed
        below the frame shown large."""
        self.strip.setMinimumHeight(self.strip.height_for_width(self.strip.width(), STRIP_MAX_ZOOM))

    # ------------------------------------------------------------------ inputs
    def set_test_data(self, dataset: ImageDataset | None) -> None:
        self.dataset = dataset
        for box in self.boxes.values():
            box.set_classes(list(dataset.class_names) if dataset is not None else [])
        self._update_controls()

    def use_latent(self, z: np.ndarray) -> None:
        """A point from the latent map: it becomes endpoint A or B as the 'Map clicks set' choice says."""
        target = self.next_target
        if self.set_endpoint(target, z, "map") and self.target_box.currentData() == "alternate":
            self.next_target = "B" if target == "A" else "A"
        self._update_target_label()

    def set_endpoint(self, which: str, z: np.ndarray, source: str = "map", detail: int = -1) -> bool:
        """Set endpoint 'A' or 'B'; False (and nothing changes) when z does not fit the model."""
        model = self.session.model
        z = np.asarray(z, dtype=np.float32).reshape(-1)
        if model is None or z.shape[0] != model.latent_dim:
            return False
        self.endpoints[which] = Endpoint(z.copy(), source, detail)
        self._update_path()
        return True

    def draw_from_prior(self, which: str) -> None:
        model = self.session.model
        if model is not None:
            seed = int(self._rng.integers(2**31 - 1))
            self.set_endpoint(which, sample_prior(1, model.latent_dim, seed)[0], "prior", seed)

    def draw_test_image(self, which: str, index: int | None = None) -> None:
        """The encoded mean of test image `index`, or of a random one of the class chosen under the endpoint."""
        if self.session.model is None or self.dataset is None or len(self.dataset) == 0:
            return
        if index is None:
            label = self.boxes[which].class_box.currentData()
            labels = self.dataset.labels.numpy()
            candidates = np.flatnonzero(labels == label) if label is not None and label >= 0 else np.arange(len(labels))
            if candidates.size == 0:
                return
            index = int(self._rng.choice(candidates))
        self.set_endpoint(which, self._encode_test_image(index), "test", index)

    def swap(self) -> None:
        self.endpoints["A"], self.endpoints["B"] = self.endpoints["B"], self.endpoints["A"]
        self._update_path()

    def reroll(self) -> None:
        """New random endpoints of the same kinds (test images stay test images); map points become prior draws."""
        for which, endpoint in self.endpoints.items():
            if endpoint is not None and endpoint.source == "test" and self.dataset is not None:
                self.draw_test_image(which)
            else:
                self.draw_from_prior(which)

    @property
    def method(self) -> str:
        return self.method_box.currentData()

    # ------------------------------------------------------------------- model
    def _encode_test_image(self, index: int) -> np.ndarray:
        return encode_images(self.session.model, self.dataset.images[index:index + 1]).mu[0]

    def _on_model_changed(self) -> None:
        model = self.session.model
        self.play_button.setChecked(False)
        if model is None:
            self.endpoints = {"A": None, "B": None}
        else:
            for which, endpoint in self.endpoints.items():
                if endpoint is None or endpoint.z.shape[0] != model.latent_dim:
                    seed = 1 if which == "A" else 2
                    self.endpoints[which] = Endpoint(sample_prior(1, model.latent_dim, seed)[0], "prior", seed)
            self._reencode_test_endpoints()
        self._update_target_label()
        self._update_path()

    def _on_weights_updated(self) -> None:
        self._reencode_test_endpoints()
        self._update_path()

    def _reencode_test_endpoints(self) -> None:
        """A test image's encoded mean moves with the weights; prior draws and map points stay where they are."""
        for endpoint in self.endpoints.values():
            if endpoint is not None and endpoint.source == "test":
                if self.dataset is not None and 0 <= endpoint.detail < len(self.dataset):
                    endpoint.z = self._encode_test_image(endpoint.detail)

    # ------------------------------------------------------------------- views
    def _update_controls(self) -> None:
        has_model = self.session.model is not None
        for widget in (self.method_box, self.steps_spin, self.swap_button, self.reroll_button, self.play_button):
            widget.setEnabled(has_model)
        has_tests = has_model and self.dataset is not None and len(self.dataset) > 0
        for box in self.boxes.values():
            box.prior_button.setEnabled(has_model)
            box.test_button.setEnabled(has_tests)
            box.class_box.setEnabled(has_tests)

    def _update_path(self) -> None:
        self._update_controls()
        model = self.session.model
        a, b = self.endpoints["A"], self.endpoints["B"]
        if model is None or a is None or b is None:
            self.path = np.zeros((0, 0), np.float32)
            self.strip_images = np.zeros((0, 28, 28), np.float32)
            self.strip.clear("Load a model to interpolate.")
            for box in self.boxes.values():
                box.preview.set_message("no model")
            self.frame_preview.set_message("no model")
            return
        steps = self.steps_spin.value()
        self.path = interpolate(a.z, b.z, steps, self.method)
        self.strip_images = decode_latents(model, self.path)
        self._frames = interpolate(a.z, b.z, ANIMATION_FRAMES, self.method)
        self._frame = min(self._frame, ANIMATION_FRAMES - 1)
        rows = -(-steps // STRIP_COLUMNS)
        self.strip.set_images(self.strip_images, columns=-(-steps // rows),
                              captions=["A"] + [""] * (steps - 2) + ["B"])
        self._fit_strip()
        self.strip.set_highlight(None)
        for which, endpoint in (("A", a), ("B", b)):
            self.boxes[which].preview.set_image(decode_latents(model, endpoint.z)[0], self._describe(endpoint))
        norms = np.linalg.norm(self.path, axis=1)
        self.strip.setToolTip(f"‖z‖ along the path: {norms.min():.2f} to {norms.max():.2f}")
        self._show_frame(self._frames[self._frame], "")
        self.pathChanged.emit(self.path.copy())

    def _describe(self, endpoint: Endpoint) -> str:
        if endpoint.source == "prior":
            return f"prior draw (seed {endpoint.detail})"
        if endpoint.source == "test" and self.dataset is not None and 0 <= endpoint.detail < len(self.dataset):
            label = int(self.dataset.labels[endpoint.detail])
            names = self.dataset.class_names
            name = names[label] if 0 <= label < len(names) else str(label)
            return f"test image #{endpoint.detail} (class {name})"
        return "point from the map"

    def _show_frame(self, z: np.ndarray, caption: str) -> None:
        self.frame_preview.set_image(decode_latents(self.session.model, z)[0], caption)

    def _show_strip_frame(self, tile: int) -> None:
        if 0 <= tile < len(self.path):
            self.play_button.setChecked(False)
            self.strip.set_highlight(tile)
            self._show_frame(self.path[tile], f"step {tile + 1} of {len(self.path)}")
            self.positionChanged.emit(self.path[tile].copy())

    def _on_target_changed(self) -> None:
        target = self.target_box.currentData()
        self.next_target = "A" if target == "alternate" else target
        self._update_target_label()

    def _update_target_label(self) -> None:
        self.target_label.setText(f"Next map click sets <b>{self.next_target}</b>")

    # ---------------------------------------------------------------- playback
    def _on_play_toggled(self, playing: bool) -> None:
        self.play_button.setText("⏸ Pause" if playing else "▶ Play")
        if playing and len(self._frames):
            self.timer.start()
        else:
            self.timer.stop()

    def _advance(self) -> None:
        """One frame along the fine path, back and forth; the strip image nearest to it is highlighted."""
        if self.session.model is None or not len(self._frames):
            self.play_button.setChecked(False)
            return
        last = len(self._frames) - 1
        if not 0 <= self._frame + self._direction <= last:
            self._direction = -self._direction
        self._frame += self._direction
        fraction = self._frame / last
        self.strip.set_highlight(int(round(fraction * (len(self.path) - 1))))
        self._show_frame(self._frames[self._frame], f"t = {fraction:.2f}")
        self.positionChanged.emit(self._frames[self._frame].copy())
