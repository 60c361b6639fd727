"""Writing pictures: exact PNG levels, nothing half-written on a full disk, folders named in errors."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vaestudio.core.errors import ExportError
from vaestudio.core.latent.image_files import check_sheet_path, write_gif, write_png


def read_png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_a_png_holds_every_level_exactly(tmp_path):
    picture = np.stack(np.meshgrid(np.arange(256), np.arange(3), indexing="xy"), axis=-1)[..., [0, 0, 1]]
    picture = picture.astype(np.uint8)
    picture[1, :, 2] = 255 - np.arange(256)
    write_png(picture, tmp_path / "levels.png")
    assert np.array_equal(read_png(tmp_path / "levels.png"), picture)


def _fail_while_writing(error: OSError):
    def write_bytes(self, data):
        with open(self, "wb") as handle:
            handle.write(data[: len(data) // 2])  # half a file, then the failure
        raise error
    return write_bytes


def test_a_full_disk_leaves_the_old_file_and_no_temporary(monkeypatch, tmp_path):
    picture = np.zeros((4, 4, 3), np.uint8)
    out = tmp_path / "sheet.png"
    write_png(picture + 255, out)
    before = out.read_bytes()
    monkeypatch.setattr(Path, "write_bytes", _fail_while_writing(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(ExportError, match=r"The disk is full: .*sheet.png was not written\. Free some space"):
        write_png(picture, out)
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.png"] and out.read_bytes() == before


def test_an_unwritable_folder_is_named(monkeypatch, tmp_path):
    def refuse(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))
    monkeypatch.setattr("vaestudio.core.data.paths._temporary_sibling", refuse)
    with pytest.raises(ExportError, match=f"Cannot write to the folder {tmp_path}: permission denied"):
        write_png(np.zeros((2, 2, 3), np.uint8), tmp_path / "x.png")
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.undo()
    with pytest.raises(ExportError, match="is not a folder"):
        write_gif([np.zeros((2, 2, 3), np.uint8)], tmp_path / "file" / "x.gif")


def test_a_sheet_path_must_suit_its_kind():
    assert check_sheet_path("a.PNG", "samples") == ".png"
    assert check_sheet_path("a.gif", "traversal") == ".gif"
    with pytest.raises(ExportError, match="A samples sheet is a still image: save it as .png"):
        check_sheet_path("a.gif", "samples")
    with pytest.raises(ExportError, match="Cannot write a sheet as '.jpg': name the file with .png or .gif"):
        check_sheet_path("a.jpg", "samples")
