"""Where VAE Studio keeps its files, and how it writes them without leaving half-files.

Every folder comes from `user_data_dir()`, which the environment variable
`VAESTUDIO_HOME` overrides (tests point it at a temporary folder so that nothing touches
the real user folder).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import platformdirs

HOME_ENV = "VAESTUDIO_HOME"
DATA_DIR_ENV = "VAESTUDIO_DATA_DIR"


def user_data_dir() -> Path:
    """The folder that holds everything VAE Studio stores for this user.

    `$VAESTUDIO_HOME` if set, else the platform's user data folder
    (e.g. `~/.local/share/vaestudio` on Linux). Not created here.
    """
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    return platformdirs.user_data_path("vaestudio", appauthor=False)


def default_data_dir() -> Path:
    """The folder datasets are fetched into when no other folder is given."""
    return user_data_dir() / "datasets"


def runs_dir() -> Path:
    """The folder that holds training runs (model files, logs)."""
    return user_data_dir() / "runs"


def data_search_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """The folders searched for datasets, in order, without duplicates.

    The explicit `data_dir` first, then `$VAESTUDIO_DATA_DIR`, then `default_data_dir()`.
    """
    candidates: list[Path] = []
    if data_dir is not None and str(data_dir) != "":
        candidates.append(Path(data_dir).expanduser())
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        candidates.append(Path(from_env).expanduser())
    candidates.append(default_data_dir())

    unique: list[Path] = []
    seen: set[Path] = set()
    for candidate in candidates:
        key = candidate.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(candidate)
    return unique


def _temporary_sibling(path: Path) -> Path:
    """Create an empty, uniquely named file beside `path` that keeps its suffix.

    The suffix is kept because writers such as PIL choose the format from it. The file is
    created with mode 0o666 so that the user's umask applies, as for any new file.
    """
    for _ in range(100):
        candidate = path.with_name(f".{path.stem}-{secrets.token_hex(4)}.tmp{path.suffix}")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return candidate
    raise FileExistsError(f"could not create a temporary file beside {path}")


def _sync_file(path: Path) -> None:
    with open(path, "r+b") as handle:
        os.fsync(handle.fileno())


def _sync_folder(folder: Path) -> None:
    """Make a rename durable on POSIX systems; a no-op where folders cannot be opened."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one step.

    Write the whole file to the yielded path. If the block raises, the temporary file is
    removed and `path` is left as it was, so readers never see a half-written file. The
    parent folder is created if needed. The temporary name keeps the suffix of `path`.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_sibling(target)
    try:
        yield temporary
        _sync_file(temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    _sync_folder(target.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` so that the file is either the old one or all of the new one."""
    with atomic_output(path) as temporary:
        temporary.write_bytes(data)
