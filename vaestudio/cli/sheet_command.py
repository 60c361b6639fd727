"""`vaestudio sheet` (image sheets and GIFs) and `vaestudio export` (CSV tables): thin layers over the core.

The parsers are built here without importing torch, so `vaestudio --help` stays quick; the
handlers import the core when they run.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

SHEET_KINDS = ("samples", "manifold", "interpolation", "reconstructions", "traversal")
COLORMAP_NAMES = ("viridis", "magma", "inferno", "gray", "gray_r")
TABLE_NAMES = ("encoded", "history", "epochs")


def add_commands(commands: argparse._SubParsersAction,
                 add_data_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the `sheet` and `export` subcommands to the `vaestudio` parser."""
    sheet = commands.add_parser(
        "sheet", help="write an image sheet (PNG) or animation (GIF) of what a model decodes",
        description="Decode a sheet of images from a model. Interpolation and traversal can also be written "
                    "as an animated GIF (one frame per column). The same options always give the same file.")
    sheet.add_argument("model", help="a .safetensors model file (or a PyTorch example state_dict)")
    sheet.add_argument("--kind", default="samples", choices=SHEET_KINDS,
                       help="samples: prior draws; manifold: a grid over a 2-D plane; interpolation: strips "
                            "between prior draws; reconstructions: test images above their reconstructions; "
                            "traversal: one row per latent dimension")
    sheet.add_argument("--out", required=True, metavar="FILE", help="FILE.png, or FILE.gif for interpolation/traversal")
    sheet.add_argument("--rows", type=int, help="rows of images (reconstructions: pairs of rows; traversal: "
                       "dimensions, most informative first) (default depends on the kind)")
    sheet.add_argument("--cols", type=int, help="columns of images (interpolation, traversal: steps)")
    sheet.add_argument("--seed", type=int, default=0, help="seed of the prior draws and test images (default 0)")
    sheet.add_argument("--scale", type=int, default=1, help="enlarge each pixel K times, crisp (default 1)")
    sheet.add_argument("--padding", type=int, default=2, help="pixels between and around images (default 2)")
    sheet.add_argument("--background", default="black", help="black, white, gray or #rrggbb (default black)")
    sheet.add_argument("--colormap", choices=COLORMAP_NAMES, help="colour the pixels (default: gray, as the data)")
    sheet.add_argument("--dims", type=int, nargs=2, default=(1, 2), metavar=("I", "J"),
                       help="manifold: the two latent dimensions of the plane, numbered from 1 as z1..zD "
                            "(default 1 2)")
    sheet.add_argument("--extent", type=float, default=3.0, help="manifold: half-width in prior std devs (default 3)")
    sheet.add_argument("--method", default="linear", choices=["linear", "slerp"], help="interpolation path")
    sheet.add_argument("--between", default="prior", choices=["prior", "test"],
                       help="interpolation: between seeded prior draws, or between test images (needs the dataset)")
    sheet.add_argument("--range", type=float, default=3.0, dest="traversal_range",
                       help="traversal: values from -R to +R (default 3)")
    sheet.add_argument("--frame-ms", type=int, default=120, help="GIF: milliseconds per frame (default 120)")
    sheet.add_argument("--bounce", action="store_true", help="GIF: play forwards, then backwards")
    sheet.add_argument("--device", default="cpu", help="where to decode: cpu (default: the same file on every "
                       "machine), auto, cuda, cuda:N or mps")
    add_data_options(sheet)

    export = commands.add_parser(
        "export", help="write the encoded test set or the loss history as CSV",
        description="encoded: one row per test image (label, mu_i, logvar_i, map_x, map_y); history: one row per "
                    "training step (step, loss, reconstruction, kl); epochs: one row per epoch.")
    export.add_argument("model", help="a .safetensors model file")
    export.add_argument("--table", default="encoded", choices=TABLE_NAMES)
    export.add_argument("--out", required=True, metavar="FILE.csv")
    export.add_argument("--map", default="auto", choices=["auto", "pca", "dims"],
                        help="encoded: the map plane of map_x, map_y (auto: the two dimensions when the latent "
                             "is 2-D, else PCA)")
    export.add_argument("--dims", type=int, nargs=2, default=(1, 2), metavar=("I", "J"),
                        help="with --map dims: the two dimensions, numbered from 1 as z1..zD (default 1 2)")
    add_data_options(export)


def dimension_indices(dims: list[int] | tuple[int, int], latent_dim: int) -> tuple[int, int]:
    """`--dims I J` (numbered from 1, as z1..zD everywhere a person reads them) as 0-based indices."""
    from vaestudio.core.errors import ConfigError

    first, second = (int(value) for value in dims)
    if not (1 <= first <= latent_dim and 1 <= second <= latent_dim) or first == second:
        raise ConfigError(f"--dims {first} {second}: choose two different dimensions from 1 to {latent_dim} "
                          f"(z1..z{latent_dim}; this model's latent has {latent_dim}).")
    return first - 1, second - 1


def _show_progress(message: str, fraction: float | None) -> None:
    if fraction is None:
        print(message, file=sys.stderr)


def _check_not_a_folder(path: str, example_name: str) -> None:
    """Say that `--out` names a folder (an existing one, or a path ending in a slash), and suggest a file in it."""
    from vaestudio.core.errors import ExportError

    if Path(path).is_dir() or path.endswith(("/", os.sep)):
        raise ExportError(f"{path} is a folder; give a file name such as {Path(path) / example_name}.")


def _test_images(saved, data_dir: str | None):
    from vaestudio.core.data.datasets import load_split

    return load_split(saved.training.dataset, "test", data_dir=data_dir, progress=_show_progress,
                      image_size=saved.config.image_size, channels=saved.config.channels)


def sheet(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from vaestudio.core.data.catalogue import dataset_has_factors
    from vaestudio.core.latent.image_files import check_sheet_path
    from vaestudio.core.latent.sheets import (
        SheetSpec,
        default_shape,
        export_sheet,
        needs_test_images,
        traversal_dimensions,
        traversal_factor_labels,
        with_defaults,
    )
    from vaestudio.core.latent.tables import dimension_name
    from vaestudio.core.models.model_files import open_model
    from vaestudio.core.training.devices import resolve_device

    device = resolve_device(args.device)
    _check_not_a_folder(args.out, f"{args.kind}.png")
    suffix = check_sheet_path(args.out, args.kind)
    saved = open_model(args.model)
    saved.model.to(device)
    latent_dim = saved.config.latent_dim
    rows, cols = default_shape(args.kind, latent_dim)
    spec = SheetSpec(kind=args.kind, rows=rows if args.rows is None else args.rows,
                     cols=cols if args.cols is None else args.cols, padding=args.padding,
                     scale=args.scale, background=args.background, colormap=args.colormap, seed=args.seed,
                     dims=dimension_indices(args.dims, latent_dim), extent=args.extent, method=args.method, between=args.between,
                     traversal_range=args.traversal_range, frame_ms=args.frame_ms, bounce=args.bounce)
    kl_per_dim = saved.history.epochs[-1].test.kl_per_dim if saved.history.epochs else None
    spec = with_defaults(spec, latent_dim, kl_per_dim).validate(latent_dim, saved.config.image_size)
    labelled = spec.kind == "traversal" and suffix == ".png" and dataset_has_factors(saved.training.dataset)
    test = _test_images(saved, args.data_dir) if needs_test_images(spec) or labelled else None
    if labelled:
        spec = replace(spec, row_labels=traversal_factor_labels(saved.model, spec, test.images, test.factors))
    made = export_sheet(saved.model, spec, args.out, test.images if test is not None else None)
    if suffix == ".gif":
        frame_height, frame_width = made.frames[0].shape[:2]
        print(f"Wrote {args.out}: {len(made.frames)} frames of {frame_width} x {frame_height} pixels.")
    else:
        height, width = made.picture.shape[:2]
        print(f"Wrote {args.out}: {width} x {height} pixels.")
    if spec.kind == "traversal":
        dims = ", ".join(dimension_name(index) for index in traversal_dimensions(spec, latent_dim))
        print(f"Rows show latent dimensions {dims}{' (most KL first)' if kl_per_dim else ''}.", file=sys.stderr)
    return 0


def export_table(args: argparse.Namespace) -> int:
    from vaestudio.core.latent.image_files import check_extension
    from vaestudio.core.latent.space import encode_images
    from vaestudio.core.latent.tables import (
        map_projection,
        write_encoded_csv,
        write_epochs_csv,
        write_history_csv,
    )
    from vaestudio.core.models.model_files import open_model

    _check_not_a_folder(args.out, f"{args.table}.csv")
    check_extension(args.out, (".csv",), "a table")
    saved = open_model(args.model)
    if args.table == "history":
        write_history_csv(args.out, saved.history)
        print(f"Wrote {args.out}: {len(saved.history.step_loss)} training steps.")
        return 0
    if args.table == "epochs":
        write_epochs_csv(args.out, saved.history)
        print(f"Wrote {args.out}: {len(saved.history.epochs)} epochs.")
        return 0
    test = _test_images(saved, args.data_dir)
    encoded = encode_images(saved.model, test.images, test.labels)
    projection = map_projection(encoded.mu, args.map, dimension_indices(args.dims, saved.config.latent_dim))
    write_encoded_csv(args.out, encoded, projection.to_map(encoded.mu), test.factors)
    print(f"Wrote {args.out}: {len(test)} test images of {test.name}, map {projection.name}.")
    return 0
