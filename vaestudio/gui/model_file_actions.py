"""The window's model-file actions: open and save a model (asking where, showing errors), name a new run folder."""

from __future__ import annotations

import logging
import re
import shutil
import time
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from vaestudio.core.data.paths import atomic_output, runs_dir
from vaestudio.core.errors import VaeStudioError
from vaestudio.core.models.model_files import (
    SavedModel,
    not_a_model_file,
    open_model,
    save_model,
)
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.gui.model_session import ModelSession
from vaestudio.gui.widgets import dialogs

MODEL_FILTER = "VAE Studio models (*.safetensors);;PyTorch example state_dicts (*.pt *.pth);;All files (*)"
SAVE_FILTER = "VAE Studio models (*.safetensors)"
log = logging.getLogger(__name__)


def new_run_folder(config: TrainingConfig) -> Path:
    """runs_dir()/<timestamp>-<dataset>-<model>, not yet created; unique even for two runs in one second."""
    kind, _, folder = config.dataset.partition(":")
    dataset = f"{kind}-{Path(folder).name}" if folder else kind
    dataset = re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset)[:40] or "data"
    base = runs_dir() / f"{time.strftime('%Y%m%d-%H%M%S')}-{dataset}-{config.model.kind}"
    candidate, number = base, 2
    while candidate.exists():
        candidate, number = base.with_name(f"{base.name}-{number}"), number + 1
    return candidate


def read_model_file(parent: QWidget, path: str | Path) -> SavedModel | None:
    """The model in `path` (VAE Studio or a PyTorch example state_dict), or None after an error dialog."""
    try:
        return open_model(path)
    except VaeStudioError as error:
        dialogs.show_error(parent, "The model file could not be opened.", str(error))
    except Exception as error:  # open_model means to raise only ModelFileError; never a traceback
        log.exception("opening %s failed unexpectedly", path)
        dialogs.show_error(parent, "The model file could not be opened.", str(not_a_model_file(path, error)))
    return None


def write_model_file(parent: QWidget, path: str | Path, session: ModelSession, autosaved: Path | None) -> bool:
    """Save the session's model to `path`; False after an error dialog.

    A run trained here copies its autosaved file `autosaved`, which holds the optimiser state too.
    """
    if session.model is None:
        return False
    try:
        if session.origin == "trained" and autosaved is not None and autosaved.is_file():
            with atomic_output(path) as temporary:
                shutil.copyfile(autosaved, temporary)
        else:
            training = session.training or TrainingConfig(model=session.model.config)
            save_model(path, session.model, training, epoch=session.epoch, history=session.history,
                       class_names=session.class_names)
    except VaeStudioError as error:
        dialogs.show_error(parent, "The model could not be saved.", str(error))
        return False
    except OSError as error:
        dialogs.show_error(parent, "The model could not be saved.",
                           f"{path} could not be written ({error.strerror or error}). Choose a folder you "
                           "can write to with free space.")
        return False
    return True


def ask_model_to_open(parent: QWidget) -> str | None:
    """The model file a person picks (starting in the runs folder), or None when they cancel."""
    path, _ = QFileDialog.getOpenFileName(parent, "Open model", str(runs_dir()), MODEL_FILTER)
    return path or None


def ask_where_to_save(parent: QWidget) -> str | None:
    """The .safetensors path a person picks to save to, or None when they cancel."""
    path, _ = QFileDialog.getSaveFileName(parent, "Save model as", "model.safetensors", SAVE_FILTER)
    if not path:
        return None
    return path if path.endswith(".safetensors") else f"{path}.safetensors"
