"""Where the explorer's test images come from: the model's dataset (the test split only), a folder the
person opened, or a named dataset fetched when asked; and the banner shown when there are none.

A mixin of `ExplorerPanel`: loading and fetching are jobs of the panel's runner.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QFileDialog

from vaestudio.core.data.catalogue import NAMED_DATASETS, dataset_title
from vaestudio.core.data.datasets import load_split
from vaestudio.core.data.factors import Factors
from vaestudio.core.data.fetching import fetch_dataset
from vaestudio.core.data.folders import dataset_in_folder
from vaestudio.core.errors import DatasetError
from vaestudio.gui.explorer.latent_map import axis_labels
from vaestudio.gui.jobs import Priority
from vaestudio.gui.widgets.dialogs import show_error

DATASET_JOB, FETCH_JOB = "explorer: test images", "explorer: fetch"


class ExplorerData:
    """The test images on the map: `images` (uint8 (N, H, W[, 3]), at the model's size and channels),
    `labels`, `class_names`, `factors` (known generating factors, or None), `dataset_spec`."""

    def _model_shape(self) -> tuple[int, int]:
        config = self.session.model.config
        return config.image_size, config.channels

    def _load_dataset(self, spec: str, data_dir: str | None) -> None:
        self.dataset_spec, self.dataset_error, self.images, self.labels, self.result = spec, None, None, None, None
        self.factors = None
        self._loaded_shape = size, channels = self._model_shape()  # the test images as the model sees them
        self.status.setText(f"Loading the {spec} test images…")
        self.latent_map.set_message(self.status.text())

        def job(cancel, report):
            test = load_split(spec, "test", data_dir=data_dir, download=False,  # the map needs no training images
                              image_size=size, channels=channels)
            return test.images.numpy(), test.labels.numpy().astype(np.int64), test.class_names, test.factors

        self.jobs.submit(DATASET_JOB, job, priority=Priority.VISIBLE, description=f"Loading the {spec} test images",
                         on_result=self._on_dataset_loaded, on_error=self._on_dataset_failed, show_errors=False)

    def fetch_dataset(self) -> None:
        """Download the model's named dataset (only when the person asks), then load it."""
        name, data_dir = self._model_dataset(), self.data_dir
        self.latent_map.show_banner(f"Fetching {name}…")
        self.jobs.submit(FETCH_JOB, lambda cancel, report: fetch_dataset(name, data_dir), priority=Priority.VISIBLE,
                         description=f"Fetching {name}", on_result=self._on_dataset_fetched,
                         on_error=self._on_dataset_failed, show_errors=False)

    def open_dataset_folder(self, folder: str | Path | None = None) -> None:
        """Read the test images from a folder (asked for when not given)."""
        folder = folder or QFileDialog.getExistingDirectory(self, "Open a dataset folder (IDX files or class folders)")
        if not folder:
            return
        try:
            source = dataset_in_folder(folder, self._model_dataset())
        except (DatasetError, OSError) as error:
            show_error(self.window(), "This folder cannot be used as a dataset.", str(error))
            return
        self._source, self.dataset_spec = source, None
        self._refresh()

    def _on_dataset_loaded(self, result: tuple[np.ndarray, np.ndarray, list[str], Factors | None]) -> None:
        self.images, self.labels, self.class_names, self.factors = result
        self._fill_colour_box()
        self.latent_map.hide_banner()
        self._request_map(encode=True)

    def _on_dataset_fetched(self, folder: object) -> None:
        self._source, self.dataset_spec = (self._model_dataset(), str(folder)), None
        self._refresh()

    def _on_dataset_failed(self, message: str) -> None:
        """No test images: a banner that says why, with what to do; the map still decodes clicks."""
        self.dataset_error, self.images, self.result = message, None, None
        spec, first_sentence = self.dataset_spec or "", message.splitlines()[0].split(". ")[0].rstrip(".")
        self.latent_map.show_banner(
            f"<b>No test images to place on the map:</b> {first_sentence}.<br>The decoder preview, the background "
            "grid and sampling still work from the model alone (details in the tooltip).", message,
            f"Fetch {dataset_title(spec)}" if spec in NAMED_DATASETS or spec == "cifar10" else None)
        self.latent_map.clear_points()
        self.latent_map.set_message("No data points: click anywhere to decode")
        self.sample_view.clear("No test images")
        self._apply_axes()
        self.status.setText(f"No test images; the map is the plane of {' and '.join(axis_labels(self.plane()))} "
                            f"of {self.session.describe()} (PCA, t-SNE and UMAP need encoded data).")
        self.latent_map.reset_view()
        self._request_background()
