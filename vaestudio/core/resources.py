"""The files that ship with VAE Studio (bundled models, the icon), found the same way however it runs.

The top-level `resources/` folder of the source tree is their one source. Built packages carry
it inside the package, as `vaestudio/resources/`: a wheel because pyproject.toml maps the folder
there as package data, a frozen build because packaging/vaestudio.spec copies it there. That
copy is read through `importlib.resources`. A source checkout or an editable install has no
such folder in the package; its resources are the checkout's `resources/` beside the package.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from vaestudio.core.errors import ResourceMissingError

ICON = ("icons", "vaestudio.svg")


def resource_folders() -> list[Path]:
    """Where the resources are looked for, in order: inside the package, then beside it (a checkout)."""
    folders = []
    packaged = files("vaestudio") / "resources"
    if isinstance(packaged, Path):  # a package on disk; never a zip archive here
        folders.append(packaged)
    folders.append(Path(__file__).resolve().parents[2] / "resources")
    return folders


def resources_dir() -> Path:
    """The folder holding VAE Studio's resources (`pretrained/`, `icons/`).

    Raises ResourceMissingError when no candidate exists (a broken install).
    """
    folders = resource_folders()
    for folder in folders:
        if folder.is_dir():
            return folder
    raise ResourceMissingError(
        "VAE Studio's resources (bundled models, icon) are missing: looked in "
        f"{' and '.join(map(str, folders))}. Reinstall VAE Studio "
        "(pip install --force-reinstall vaestudio), or restore resources/ in a source checkout.")


def resource_path(*parts: str) -> Path:
    """A file among the resources, e.g. `resource_path("icons", "vaestudio.svg")`; raises if it is missing."""
    path = resources_dir().joinpath(*parts)
    if not path.exists():
        raise ResourceMissingError(f"{path} is missing from VAE Studio's resources. Reinstall VAE Studio, "
                                   "or restore resources/ in a source checkout.")
    return path


def icon_path() -> Path:
    """The application icon (SVG)."""
    return resource_path(*ICON)
