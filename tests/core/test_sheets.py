"""Image sheets and GIFs: sizes, determinism, content equal to the decoder's, and clean failures."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_data import make_digits, write_idx_folder

from vaestudio.cli import sheet_command
from vaestudio.cli.main import main
from vaestudio.core.errors import ConfigError, ExportError
from vaestudio.core.latent import sheets
from vaestudio.core.latent.sheets import SheetSpec, export_sheet, make_sheet, sheet_size
from vaestudio.core.latent.space import PCAProjection, reconstruct_images, sample_prior
from vaestudio.core.models.model_files import save_model
from vaestudio.core.models.networks import ModelConfig, build_model
from vaestudio.core.models.training_config import TrainingConfig

LATENT = 4


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(ModelConfig("mlp", LATENT, 16)).eval()


@pytest.fixture
def model_file(model, tmp_path):
    write_idx_folder(tmp_path / "digits", train=32, test=40)
    path = tmp_path / "model.safetensors"
    config = TrainingConfig(dataset=f"idx:{tmp_path / 'digits'}", model=model.config)
    save_model(path, model, config, epoch=1)
    return path


def decoded_uint8(model, z: np.ndarray) -> np.ndarray:
    """The decoder's own output for latents z, as the 8-bit levels a sheet stores."""
    with torch.no_grad():
        pixels = model.decode(torch.as_tensor(z, dtype=torch.float32)).reshape(-1, 28, 28).numpy()
    return np.floor(pixels * 255.0 + 0.5).astype(np.uint8)


def tiles_of(picture: np.ndarray, rows: int, cols: int, padding: int = 0, size: int = 28) -> np.ndarray:
    """Cut a sheet back into its (rows * cols, size, size, channels) tiles."""
    step = size + padding
    return np.stack([picture[padding + r * step:padding + r * step + size, padding + c * step:padding + c * step + size]
                     for r in range(rows) for c in range(cols)])


def read_png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


KIND_ROWS = {"samples": 3, "manifold": 3, "interpolation": 3, "reconstructions": 6, "traversal": 3}


@pytest.mark.parametrize("kind", sheets.KINDS)
def test_each_kind_from_the_cli_has_the_expected_pixel_size(kind, model_file, tmp_path, capsys):
    out = tmp_path / f"{kind}.png"
    assert main(["sheet", str(model_file), "--kind", kind, "--out", str(out), "--rows", "3", "--cols", "5",
                 "--scale", "2", "--padding", "3"]) == 0
    image_rows = KIND_ROWS[kind]
    assert Image.open(out).size == (5 * (56 + 3) + 3, image_rows * (56 + 3) + 3)
    assert Image.open(out).format == "PNG" and f"Wrote {out}" in capsys.readouterr().out


def test_traversal_has_one_row_per_dimension_at_most(model):
    spec = SheetSpec(kind="traversal", rows=10, cols=3, padding=0)
    assert make_sheet(model, spec).picture.shape == (LATENT * 28, 3 * 28, 3)
    assert sheet_size(spec, LATENT) == (3 * 28, LATENT * 28)


def test_the_same_seed_gives_byte_identical_pngs(model_file, tmp_path):
    paths = [tmp_path / name for name in ("a.png", "b.png", "c.png")]
    for path, seed in zip(paths, ("7", "7", "8")):
        assert main(["sheet", str(model_file), "--out", str(path), "--seed", seed, "--colormap", "viridis"]) == 0
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


@pytest.mark.parametrize("kind, argv, frames", [
    ("interpolation", ["--cols", "6"], 6),
    ("interpolation", ["--cols", "6", "--bounce"], 10),
    ("traversal", ["--cols", "7", "--rows", "3"], 7),
])
def test_the_gif_has_one_frame_per_column(kind, argv, frames, model_file, tmp_path):
    out = tmp_path / "anim.gif"
    assert main(["sheet", str(model_file), "--kind", kind, "--out", str(out), "--scale", "2", *argv]) == 0
    gif = Image.open(out)
    assert gif.format == "GIF" and gif.n_frames == frames and gif.info["loop"] == 0


def test_gif_frames_show_one_column_of_every_row(model):
    spec = SheetSpec(kind="traversal", rows=LATENT, cols=5, padding=1)
    sheet = make_sheet(model, spec)
    assert len(sheet.frames) == 5
    # four rows laid out 2 x 2: the frame's top-right tile is dimension 1 at step k
    picture, frame = sheet.picture, sheet.frames[3]
    assert frame.shape == (2 * 29 + 1, 2 * 29 + 1, 3)
    assert np.array_equal(tiles_of(frame, 2, 2, padding=1)[1], tiles_of(picture, LATENT, 5, padding=1)[1 * 5 + 3])
    bounced = make_sheet(model, SheetSpec(kind="traversal", rows=LATENT, cols=5, padding=1, bounce=True)).frames
    assert len(bounced) == 8 and all(np.array_equal(bounced[8 - k], sheet.frames[k]) for k in range(1, 4))


def test_sample_sheet_images_equal_the_decoder_output_for_the_seeded_prior_draws(model, model_file, tmp_path):
    out = tmp_path / "samples.png"
    assert main(["sheet", str(model_file), "--out", str(out), "--rows", "3", "--cols", "4", "--seed", "11",
                 "--padding", "0"]) == 0
    expected = decoded_uint8(model, sample_prior(12, LATENT, 11))
    tiles = tiles_of(read_png(out), 3, 4)
    assert np.array_equal(tiles[..., 0], expected)
    assert np.array_equal(tiles[..., 0], tiles[..., 2])  # gray: R = G = B


def test_scale_enlarges_each_pixel_into_a_crisp_block(model, tmp_path):
    spec = SheetSpec(rows=1, cols=2, padding=0, scale=3, seed=2)
    picture = make_sheet(model, spec).picture[..., 0]
    expected = decoded_uint8(model, sample_prior(2, LATENT, 2))
    assert np.array_equal(picture[::3, ::3], np.concatenate(list(expected), axis=1))
    assert np.array_equal(picture, np.repeat(np.repeat(picture[::3, ::3], 3, axis=0), 3, axis=1))


def test_manifold_interpolation_and_traversal_decode_the_latents_they_promise(model):
    manifold = make_sheet(model, SheetSpec(kind="manifold", rows=3, cols=3, padding=0, dims=(2, 0), extent=2.0))
    corner = np.zeros((1, LATENT), np.float32)
    corner[0, 2], corner[0, 0] = -2.0, 2.0  # top-left: (u, v) = (-extent, +extent)
    assert np.array_equal(tiles_of(manifold.picture, 3, 3)[0, ..., 0], decoded_uint8(model, corner)[0])

    ends = np.random.default_rng(0).normal(size=(1, 2, LATENT)).astype(np.float32)
    strip = make_sheet(model, SheetSpec(kind="interpolation", cols=4, padding=0, endpoints=ends))
    tiles = tiles_of(strip.picture, 1, 4)[..., 0]
    assert np.array_equal(tiles[[0, 3]], decoded_uint8(model, ends[0]))

    traversal = make_sheet(model, SheetSpec(kind="traversal", rows=2, cols=3, padding=0, traversal_range=1.5))
    z = np.zeros((2, 3, LATENT), np.float32)
    z[0, :, 0] = z[1, :, 1] = [-1.5, 0.0, 1.5]
    assert np.array_equal(tiles_of(traversal.picture, 2, 3)[..., 0], decoded_uint8(model, z.reshape(6, LATENT)))


def test_a_given_plane_is_used_for_the_manifold(model):
    mu = np.random.default_rng(1).normal(size=(50, LATENT))
    projection = PCAProjection(mu)
    sheet = make_sheet(model, SheetSpec(kind="manifold", rows=2, cols=2, padding=0, projection=projection, extent=1))
    corner = projection.to_latent(np.array([[-1.0, 1.0]]))
    assert np.array_equal(tiles_of(sheet.picture, 2, 2)[0, ..., 0], decoded_uint8(model, corner)[0])


def test_reconstructions_show_test_images_above_their_reconstructions(model):
    images, _ = make_digits(30, seed=3)
    test_images = torch.from_numpy(images)
    sheet = make_sheet(model, SheetSpec(kind="reconstructions", rows=2, cols=3, padding=0, seed=5), test_images)
    tiles = tiles_of(sheet.picture, 4, 3)[..., 0].reshape(2, 2, 3, 28, 28)
    originals = tiles[:, 0].reshape(6, 28, 28)
    chosen = sheets.choose_test_images(test_images, 6, 5)
    assert np.array_equal(originals, chosen.numpy())
    assert np.array_equal(tiles[:, 1].reshape(6, 28, 28), sheets.to_uint8(reconstruct_images(model, chosen)))
    with pytest.raises(ConfigError, match="needs the test set"):
        make_sheet(model, SheetSpec(kind="reconstructions"))


def test_interpolation_between_test_images_starts_at_their_reconstructions(model):
    test_images = torch.from_numpy(make_digits(20, seed=4)[0])
    spec = SheetSpec(kind="interpolation", rows=2, cols=3, padding=0, between="test", seed=1)
    tiles = tiles_of(make_sheet(model, spec, test_images).picture, 2, 3)[..., 0]
    chosen = sheets.choose_test_images(test_images, 4, 1)
    assert np.array_equal(tiles[[0, 2, 3, 5]], sheets.to_uint8(reconstruct_images(model, chosen)))


def test_colormap_background_and_padding(model):
    spec = SheetSpec(rows=2, cols=2, padding=4, background="#102030", colormap="viridis", seed=3)
    picture = make_sheet(model, spec).picture
    assert picture.shape == (2 * 32 + 4, 2 * 32 + 4, 3)
    assert (picture[:4] == (16, 32, 48)).all() and (picture[:, 32:36] == (16, 32, 48)).all()
    table = sheets.colormap_table("viridis")
    levels = decoded_uint8(model, sample_prior(4, LATENT, 3))[0]
    assert np.array_equal(tiles_of(picture, 2, 2, padding=4)[0], table[levels])
    assert tuple(table[0]) == (68, 1, 84) and tuple(table[255]) == (253, 231, 37)
    assert np.array_equal(sheets.colormap_table("gray_r")[:, 0], 255 - np.arange(256))
    assert np.array_equal(sheets.colormap_table(None)[:, 1], np.arange(256))


@pytest.mark.parametrize("changes, message", [
    ({"kind": "mosaic"}, "Unknown sheet kind 'mosaic'"),
    ({"rows": 0}, "rows must be between 1 and 256"),
    ({"scale": 40}, "scale must be between 1 and 32"),
    ({"colormap": "jet"}, "Unknown colormap 'jet'"),
    ({"background": "teal-ish"}, "is not a colour"),
    ({"kind": "manifold", "dims": (1, 1)}, r"two different manifold dimensions from z1 to z4 \(got z2, z2\)"),
    ({"kind": "manifold", "dims": (0, 4)}, r"from z1 to z4 \(got z1, z5\)"),
    ({"kind": "traversal", "traversal_dims": (9,)}, r"Traversal dimension z10 does not exist: the latent has 4 \(z1"),
    ({"kind": "interpolation", "cols": 1}, "at least 2 columns"),
    ({"rows": 100, "cols": 100, "scale": 4}, "The sheet would be 11402 x 11402 pixels: use fewer rows"),
])
def test_bad_settings_are_named(changes, message):
    with pytest.raises(ConfigError, match=message):
        SheetSpec(**changes).validate(LATENT)


def test_traversal_rows_follow_the_kl_when_it_is_known():
    spec = sheets.with_defaults(SheetSpec(kind="traversal", rows=2), 4, [0.1, 3.0, 0.0, 1.5])
    assert spec.traversal_dims == (1, 3)
    assert sheets.with_defaults(SheetSpec(kind="traversal", rows=2), 4, None).traversal_dims is None


def test_unknown_extension_and_still_gif_are_refused_without_a_file(model_file, tmp_path, capsys):
    for name, kind, message in (
            ("sheet.jpg", "samples", "Cannot write a sheet as '.jpg': name the file with .png or .gif"),
            ("sheet.gif", "manifold", "A manifold sheet is a still image: save it as .png")):
        assert main(["sheet", str(model_file), "--kind", kind, "--out", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits", "model.safetensors"]


def test_a_failing_gif_leaves_nothing(model, monkeypatch, tmp_path):
    from PIL import Image as PilImage

    def fail(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"GIF89a")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(PilImage.Image, "save", fail)
    with pytest.raises(ExportError, match="disk is full"):
        export_sheet(model, SheetSpec(kind="traversal", rows=2, cols=3), tmp_path / "t.gif")
    assert list(tmp_path.iterdir()) == []


def test_the_cli_choices_are_the_core_ones():
    assert sheet_command.SHEET_KINDS == sheets.KINDS
    assert set(sheet_command.COLORMAP_NAMES) == set(sheets.COLORMAPS)


def test_sheet_dims_are_numbered_from_one(model_file, tmp_path, capsys):
    out = tmp_path / "manifold.png"
    assert main(["sheet", str(model_file), "--kind", "manifold", "--out", str(out), "--dims", "1", "2"]) == 0
    assert main(["sheet", str(model_file), "--kind", "manifold", "--out", str(out), "--dims", "0", "1"]) == 2
    assert f"from 1 to {LATENT} (z1..z{LATENT}" in capsys.readouterr().err
    assert "z1..zD" in sheet_help()


def test_traversal_names_its_rows_from_z1(model_file, tmp_path, capsys):
    assert main(["sheet", str(model_file), "--kind", "traversal", "--out", str(tmp_path / "t.png"), "--rows", "2"]) == 0
    assert "latent dimensions z" in capsys.readouterr().err


def sheet_help() -> str:
    import argparse

    from vaestudio.cli.sheet_command import add_commands

    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers()
    add_commands(commands, lambda command: None)
    return commands.choices["sheet"].format_help()


def test_explorer_context_of_another_model_is_our_error():
    """Found by the monkey test: the export dialog kept the explorer's endpoints after another model was opened."""
    from vaestudio.core.errors import ConfigError
    from vaestudio.core.latent.sheets import SheetSpec, sheet_latents

    with pytest.raises(ConfigError, match="endpoints belongs to another model \\(not a latent of 2\\)"):
        sheet_latents(SheetSpec(kind="interpolation", rows=1, cols=5, endpoints=np.zeros((1, 2, 20))), 2)
    with pytest.raises(ConfigError, match="endpoints belongs to another model"):
        sheet_latents(SheetSpec(kind="interpolation", rows=1, cols=5, endpoints=np.zeros((1, 2, 2))), 20)
    with pytest.raises(ConfigError, match="origin belongs to another model"):
        sheet_latents(SheetSpec(kind="traversal", rows=2, cols=5, origin=np.zeros(20)), 2)
    assert sheet_latents(SheetSpec(kind="interpolation", rows=1, cols=5, endpoints=np.zeros((1, 2, 2))), 2).shape \
        == (1, 5, 2)
