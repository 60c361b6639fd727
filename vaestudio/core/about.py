"""What VAE Studio says about itself: its version, its libraries', the device, where its files live.

`vaestudio --version` prints `about_line()`; Help > About shows the same `about_facts()` as a
table. Qt is never imported here: its version is read from the installed package's metadata,
or from PySide6 itself when the window has loaded it already.
"""

from __future__ import annotations

import sys
from importlib import metadata

import torch

from vaestudio import __version__
from vaestudio.core.data.paths import user_data_dir
from vaestudio.core.training.devices import device_label, resolve_device

NOT_INSTALLED = "not installed"


def library_version(module: str, *distributions: str) -> str:
    """The version of a library without importing it: the loaded module's, else its package metadata's."""
    loaded = sys.modules.get(module)
    if loaded is not None and getattr(loaded, "__version__", None):
        return str(loaded.__version__)
    for distribution in distributions or (module,):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return NOT_INSTALLED


def torch_description() -> str:
    """torch's version, with the CUDA version it was built for when there is one."""
    cuda = torch.version.cuda
    return f"{torch.__version__} (CUDA {cuda})" if cuda else torch.__version__


def about_facts(device: str | None = None, qt: str | None = None) -> list[tuple[str, str]]:
    """(name, value) pairs: VAE Studio, torch, Qt, pyqtgraph, the device in use, the user data folder.

    `device` is the label of the device in use (default: the one `--device auto` picks here);
    `qt` replaces the Qt entry (the window passes the Qt version it runs on).
    """
    pyside = library_version("PySide6", "PySide6-Essentials", "PySide6")
    return [
        ("VAE Studio", __version__),
        ("torch", torch_description()),
        ("Qt", qt or (f"PySide6 {pyside}" if pyside != NOT_INSTALLED else NOT_INSTALLED)),
        ("pyqtgraph", library_version("pyqtgraph")),
        ("Device", device or device_label(resolve_device("auto"))),
        ("User data", str(user_data_dir())),
    ]


def about_line(facts: list[tuple[str, str]] | None = None) -> str:
    """The facts on one line, as `vaestudio --version` prints them:

    `vaestudio 0.1.0; torch: 2.14.1; Qt: PySide6 6.11.3; pyqtgraph: 0.14.0; Device: CPU; User data: ...`
    """
    (_, version), *rest = about_facts() if facts is None else facts
    return "; ".join([f"vaestudio {version}", *(f"{name}: {value}" for name, value in rest)])
