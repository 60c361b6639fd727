"""Where VAE Studio keeps its files, and how it writes them without leaving half-files.

Every folder comes from `user_data_dir()`, which the environment variable
`VAESTUDIO_HOME` overrides (tests point it at a temporary folder so that nothing touches
the real user folder).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
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


STALE_TEMPORARY_AGE_S = 60.0  # a killed writer's file left this long unchanged is swept by the next save


def _temporary_sibling(path: Path) -> Path:
    """Create an empty, uniquely named file beside `path` that keeps its suffix.

    The suffix is kept because writers such as PIL choose the format from it. The file is
    created with mode 0o666 so that the user's umask applies, as for any new file. Its name
    holds the writing process's id, so that a later save can tell a killed writer's leftover
    (`sweep_stale_temporaries`) from a file another process is still writing.
    """
    for _ in range(100):
        candidate = path.with_name(f".{path.stem}-{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return candidate
    raise FileExistsError(f"could not create a temporary file beside {path}")


def _process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # another user's process, or no way to tell: keep its file
    return True


def sweep_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files that writers of `path` killed mid-save left beside it; return them.

    One is stale when the process named in it is gone and it has not changed for
    STALE_TEMPORARY_AGE_S (a file on a shared folder written from another machine keeps
    changing while it is written). Anything that cannot be removed is left alone.
    """
    pattern = re.compile(rf"\.{re.escape(path.stem)}-(\d+)-[0-9a-f]{{8}}\.tmp{re.escape(path.suffix)}")
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or int(match.group(1)) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if now - entry.stat(follow_symlinks=False).st_mtime < STALE_TEMPORARY_AGE_S:
                continue
            if not _process_is_alive(int(match.group(1))):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


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
    parent folder is created if needed. The temporary name keeps the suffix of `path`. What
    an earlier writer killed mid-save left beside `path` is removed first.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temporaries(target)
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
