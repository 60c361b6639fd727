"""The model the explorer panels work from: being trained, opened from a file, or bundled.

Panels never touch the module being trained. They read `session.model`, an eval-mode CPU
copy that the session refreshes from the trainer's epoch-end snapshots, and listen to two
signals: `modelChanged` (another network: rebuild everything) and `weightsUpdated` (same
network, new weights: re-encode and redraw). Background jobs never use `session.model`
(the GUI thread decodes with it and reloads it at epoch ends): they take a `snapshot()`.
"""

from __future__ import annotations

import threading

import torch
from PySide6.QtCore import QObject, Signal

from vaestudio.core.models.history import TrainingHistory
from vaestudio.core.models.model_files import SavedModel
from vaestudio.core.models.networks import VAE, build_model
from vaestudio.core.models.training_config import TrainingConfig


class ModelSnapshot:
    """A CPU copy of the session's weights, taken on the GUI thread, for the background jobs.

    The worker builds its own network from it, once (`network()`), so a job never reads
    weights that the GUI thread is replacing.
    """

    def __init__(self, model: VAE) -> None:
        self.config = model.config
        self.state = {name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()}
        self._network: VAE | None = None
        self._lock = threading.Lock()

    def network(self) -> VAE:
        """The network with these weights, in eval mode (built on the first call)."""
        with self._lock:
            if self._network is None:
                network = build_model(self.config)
                network.load_state_dict(self.state)
                self._network = network.eval()
            return self._network


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
        self._run_replaced = False  # a model was opened after a run began: that run's snapshots no longer apply
        self._snapshot: ModelSnapshot | None = None
        # connected first, so every panel's slot already gets a snapshot of the new weights
        self.modelChanged.connect(self._forget_snapshot)
        self.weightsUpdated.connect(self._forget_snapshot)

    @property
    def has_model(self) -> bool:
        return self.model is not None

    def snapshot(self) -> ModelSnapshot | None:
        """A copy of the current weights for background jobs (one copy until the weights change)."""
        if self.model is None:
            return None
        if self._snapshot is None:
            self._snapshot = ModelSnapshot(self.model)
        return self._snapshot

    def _forget_snapshot(self) -> None:
        self._snapshot = None

    def load_saved(self, saved: SavedModel, origin: str = "file") -> None:
        """Show a model read from disk. A run still training goes on, but no longer updates what is shown."""
        self._run_replaced = self._run_replaced or self._pending_run is not None or self.origin == "trained"
        self._pending_run = None
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
        self._run_replaced = False

    def update_weights(self, state: dict[str, torch.Tensor], epoch: int,
                       history: TrainingHistory | None = None) -> None:
        """An epoch-end snapshot from the training thread (plain CPU tensors) and the run's history.

        Ignored once another model was opened during the run (its weights would not even fit).
        """
        if self._run_replaced:
            return
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
