"""The model the explorer panels work from: being trained, opened from a file, or bundled.

Panels never touch the module being trained. They read `session.model`, an eval-mode CPU
copy that the session refreshes from the trainer's epoch-end snapshots, and listen to two
signals: `modelChanged` (another network: rebuild everything) and `weightsUpdated` (same
network, new weights: re-encode and redraw).
"""

from __future__ import annotations

import torch
from PySide6.QtCore import QObject, Signal

from vaestudio.core.models.history import TrainingHistory
from vaestudio.core.models.model_files import SavedModel
from vaestudio.core.models.networks import VAE, build_model
from vaestudio.core.models.training_config import TrainingConfig


class ModelSession(QObject):
    modelChanged = Signal()
    weightsUpdated = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model: VAE | None = None
        self.training: TrainingConfig | None = None
        self.history = TrainingHistory()
        self.class_names: list[str] = []
        self.epoch = 0
        self.source = ""
        self.origin = ""  # "trained", "file" or "bundled"
        self._pending_run: tuple[TrainingConfig, list[str], str, TrainingHistory] | None = None

    @property
    def has_model(self) -> bool:
        return self.model is not None

    def load_saved(self, saved: SavedModel, origin: str = "file") -> None:
        """Show a model read from disk."""
        self.model = saved.model.to("cpu").eval()
        self.training = saved.training
        self.history = saved.history
        self.class_names = list(saved.class_names)
        self.epoch = saved.epoch
        self.source = saved.source
        self.origin = origin
        self.modelChanged.emit()

    def start_training(self, training: TrainingConfig, class_names: list[str], source: str,
                       history: TrainingHistory | None = None) -> None:
        """A new run begins. Until its first snapshot arrives the session keeps showing (and saving)
        the model it had, with that model's own configuration and history."""
        self._pending_run = (training, list(class_names), source, history or TrainingHistory())

    def update_weights(self, state: dict[str, torch.Tensor], epoch: int,
                       history: TrainingHistory | None = None) -> None:
        """An epoch-end snapshot from the training thread (plain CPU tensors) and the run's history."""
        new_network = self._pending_run is not None
        if new_network:
            self.training, self.class_names, self.source, self.history = self._pending_run
            self.origin, self._pending_run = "trained", None
        if self.training is None:
            return
        if history is not None:
            self.history = history
        self.epoch = epoch
        if new_network or self.model is None or self.model.config != self.training.model:
            self.model = build_model(self.training.model).eval()
            self.model.load_state_dict(state)
            self.modelChanged.emit()
            return
        self.model.load_state_dict(state)
        self.weightsUpdated.emit()

    def describe(self) -> str:
        if self.model is None:
            return "no model"
        config = self.model.config
        return f"{config.kind.upper()} z={config.latent_dim}, epoch {self.epoch}"
