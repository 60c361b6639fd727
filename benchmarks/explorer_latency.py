"""How quickly the latent explorer answers: clicks, re-encoding at an epoch end, panning a big map.

1. Click to preview: real left clicks (QTest) at seeded random places of a 10,000-point map,
   each timed from the press until the large preview has repainted (decode on the GUI thread).
2. Re-encode and redraw: `weightsUpdated` emitted as at an epoch end, timed until the map
   shows the new points and has repainted; the 10,000 test images are encoded in the
   worker thread. A 4 ms timer meanwhile measures how long the GUI thread was held up.
3. Pan: a 70,000-point map (all of MNIST encoded, 1000x800 pixels), shifted 16 pixels and
   repainted per frame, back and forth. The map draws a cached picture of its points while it
   pans and renders it again only when the pan brings points into view that the picture does
   not hold (the first build rendered it every dozen frames here; now the picture holds them
   all), so the median, p95 and max frame are all printed.
4. Views of the whole test set (10,000 points, encoded by the bundled 20-d model): t-SNE
   (openTSNE) chosen in the explorer, timed until the map shows it, with the time to its
   first report of the optimisation (neighbours and affinities) and the longest GUI-thread
   gap meanwhile; then placing one latent vector in it (the sketch's mean, openTSNE's
   transform). With umap-learn installed, the same for UMAP (its first run in a process
   compiles its code), and a click decoded through UMAP's approximate inverse.

    QT_QPA_PLATFORM=offscreen VAESTUDIO_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/explorer_latency.py

Targets on the CPU: click p95 <= 16 ms, re-encode and redraw <= 300 ms, pan frame <= 16 ms.
Offscreen rendering is Qt's raster engine, the one that paints widgets on every desktop too.
The last line reads `RESULT click_p95_ms=... reencode_ms=... pan_frame_ms=... tsne_10k_s=...
tsne_place_s=...` and, with umap-learn, `umap_10k_s=... umap_inverse_s=...` (re-encode: median
of the runs; pan: the 95th percentile frame; views: one run each).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen" if not os.environ.get("DISPLAY") else "")
os.environ["VAESTUDIO_HOME"] = tempfile.mkdtemp(prefix="vaestudio-bench-")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import data_dir, percentile, result_line  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from vaestudio.core.data.datasets import load_dataset  # noqa: E402
from vaestudio.core.latent.embeddings import NEIGHBOUR_SHARE, umap_installed  # noqa: E402
from vaestudio.core.latent.space import encode_images, make_plane  # noqa: E402
from vaestudio.core.models.model_files import SavedModel, open_model  # noqa: E402
from vaestudio.core.models.networks import ModelConfig, build_model  # noqa: E402
from vaestudio.core.models.pretrained import bundled_models, default_bundled_model  # noqa: E402
from vaestudio.core.models.training_config import TrainingConfig  # noqa: E402
from vaestudio.gui.app import configure_application  # noqa: E402
from vaestudio.gui.explorer.explorer_panel import MAP_JOB, ExplorerPanel  # noqa: E402
from vaestudio.gui.explorer.latent_map import LatentMap  # noqa: E402
from vaestudio.gui.model_session import ModelSession  # noqa: E402

TARGET_CLICK_MS, TARGET_REENCODE_MS, TARGET_PAN_MS = 16.0, 300.0, 16.0
PAN_PIXELS_PER_FRAME = 16  # a brisk drag: about 1,000 pixels a second at 60 frames a second


def wait_for(signal, timeout_ms: int = 120_000) -> None:
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(loop.quit)


def the_model(path: str | None) -> SavedModel:
    path = path or default_bundled_model()
    if path:
        return open_model(path)
    print("no bundled model: timing an untrained founding MLP (the timings do not depend on the weights)")
    torch.manual_seed(0)
    model = build_model(ModelConfig()).eval()
    return SavedModel(model, TrainingConfig(dataset="mnist", model=model.config),
                      class_names=[str(d) for d in range(10)])


def click_latencies(app: QApplication, panel: ExplorerPanel, clicks: int) -> list[float]:
    viewport = panel.latent_map.plot.viewport()
    (x0, x1), (y0, y1) = panel.latent_map.view_range()
    rng = np.random.default_rng(0)
    times = []
    for _ in range(clicks):
        pixel = panel.latent_map.map_to_widget(rng.uniform(x0, x1), rng.uniform(y0, y1))
        started = time.perf_counter()
        QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pixel)
        panel.decoded.canvas.repaint()
        times.append((time.perf_counter() - started) * 1000)
        app.processEvents()  # let the map repaint its marker between clicks, as it would
    return times


def reencode_times(panel: ExplorerPanel, session: ModelSession, runs: int) -> tuple[list[float], float]:
    """Wall time per re-encode, and the longest the GUI thread was held up meanwhile."""
    times, stalls = [], []
    probe, clock = QTimer(), QElapsedTimer()
    probe.setInterval(4)
    probe.timeout.connect(lambda: (stalls.append(clock.restart()), None))
    for _ in range(runs):
        loop = QEventLoop()
        panel.mapUpdated.connect(loop.quit)
        clock.start()
        probe.start()
        started = time.perf_counter()
        session.weightsUpdated.emit()
        loop.exec()
        panel.latent_map.plot.viewport().repaint()
        times.append((time.perf_counter() - started) * 1000)
        probe.stop()
        panel.mapUpdated.disconnect(loop.quit)
    return times, float(max(stalls, default=0))


def pan_frame_times(app: QApplication, session: ModelSession, folder: str, frames: int) -> tuple[list[float], int]:
    """Frame times of a pan back and forth (whole periods, so the view ends where it began)."""
    splits = load_dataset("mnist", data_dir=folder, download=False)
    images = torch.cat([splits.train.images, splits.test.images])
    labels = torch.cat([splits.train.labels, splits.test.labels]).numpy()
    mu = encode_images(session.model, images).mu
    points = make_plane("pca" if mu.shape[1] > 2 else "latent", mu.shape[1], mu).to_map(mu)
    latent_map = LatentMap()
    latent_map.resize(1000, 800)
    latent_map.show()
    latent_map.set_point_style(4, 0.7)
    latent_map.set_points(points, labels, [str(d) for d in range(10)])
    app.processEvents()
    viewport = latent_map.plot.viewport()
    viewport.repaint()
    step = PAN_PIXELS_PER_FRAME * latent_map.view_box.viewPixelSize()[0]
    times = []
    for frame in range(-(-frames // 80) * 80):
        started = time.perf_counter()
        latent_map.view_box.translateBy(x=step if frame % 80 < 40 else -step)
        viewport.repaint()
        times.append((time.perf_counter() - started) * 1000)
    return times, len(points)


class GuiGaps:
    """The longest time the GUI thread was held up while it ran (a 4 ms timer's largest gap)."""

    def __init__(self) -> None:
        self.gaps, self.clock, self.timer = [], QElapsedTimer(), QTimer()
        self.timer.setInterval(4)
        self.timer.timeout.connect(lambda: self.gaps.append(self.clock.restart()))

    def __enter__(self) -> GuiGaps:
        self.clock.start()
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.stop()

    @property
    def longest_ms(self) -> float:
        return float(max(self.gaps, default=0))


def view_times(panel: ExplorerPanel, kind: str) -> dict[str, float]:
    """Choose the `kind` view in the explorer and time it until the map shows it, then place a vector in it."""
    first_report = []
    started = time.perf_counter()

    def on_progress(job: str, fraction: float) -> None:
        if job == MAP_JOB and fraction >= NEIGHBOUR_SHARE and not first_report:
            first_report.append(time.perf_counter() - started)

    panel.jobs.progress.connect(on_progress)
    with GuiGaps() as gaps:
        panel.controls.projection.setCurrentIndex(panel.controls.projection.findData(kind))
        wait_for(panel.mapUpdated, timeout_ms=1_800_000)
    panel.latent_map.plot.viewport().repaint()
    total = time.perf_counter() - started
    panel.jobs.progress.disconnect(on_progress)
    assert panel.view() is not None and panel.view().kind == kind, f"the {kind} view did not finish"
    times = {"total": total, "neighbours": first_report[0] if first_report else float("nan"), "gap": gaps.longest_ms}
    panel.latent_map.set_sketch(None)
    started = time.perf_counter()
    panel.place_sketch(panel.result.mu[0])
    while not len(panel.latent_map.sketch_centre.getData()[0]):
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 50)
    times["place"] = time.perf_counter() - started
    return times


def approximate_click_time(panel: ExplorerPanel) -> float:
    """Seconds from a click on an empty spot of the UMAP view to the decoded approximate point."""
    (x0, x1), (y0, y1) = panel.latent_map.view_range()
    pixel = panel.latent_map.map_to_widget(x0 + 0.07 * (x1 - x0), y0 + 0.93 * (y1 - y0))
    started = time.perf_counter()
    QTest.mouseClick(panel.latent_map.plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     pixel)
    wait_for(panel.pointChosen, timeout_ms=600_000)
    assert panel.decoded.caption().startswith("Approximate"), "the approximate point was not decoded"
    return time.perf_counter() - started


def views_of_the_test_set(folder: str, model_path: str | None) -> dict[str, float]:
    """t-SNE (and UMAP with umap-learn) of the whole test set in a fresh explorer; the figures for RESULT."""
    saved = the_model(model_path)
    session = ModelSession()
    session.load_saved(saved, "bundled")
    panel = ExplorerPanel(session, data_dir=folder)
    panel.resize(1280, 800)
    panel.show()
    wait_for(panel.mapUpdated)
    count = len(panel.result.indices)
    print(f"views of {count:,} test images encoded by {session.describe()} (one worker thread)")
    figures = {}
    tsne = view_times(panel, "tsne")
    print(f"t-SNE (openTSNE) of {count:,} points: {tsne['total']:.1f} s to the map shown ({tsne['neighbours']:.1f} s "
          f"to neighbours and affinities, with importing openTSNE), longest GUI-thread gap {tsne['gap']:.0f} ms; "
          f"placing one latent vector (transform): {tsne['place']:.2f} s")
    figures.update(tsne_10k_s=tsne["total"], tsne_place_s=tsne["place"])
    if umap_installed():
        umap = view_times(panel, "umap")
        inverse = approximate_click_time(panel)
        print(f"UMAP of {count:,} points: {umap['total']:.1f} s to the map shown (its first run in a process, "
              f"compiling included; {umap['neighbours']:.1f} s before its epochs), longest GUI-thread gap "
              f"{umap['gap']:.0f} ms; placing one latent vector: {umap['place']:.2f} s; a click decoded through the "
              f"approximate inverse: {inverse:.2f} s")
        figures.update(umap_10k_s=umap["total"], umap_inverse_s=inverse)
    else:
        print("UMAP: umap-learn is not installed (pip install 'vaestudio[umap]'), not timed")
    panel.shutdown()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model file (default: the bundled default model)")
    parser.add_argument("--clicks", type=int, default=200)
    parser.add_argument("--reencodes", type=int, default=10)
    parser.add_argument("--frames", type=int, default=240, help="pan frames (rounded up to whole periods of 80)")
    parser.add_argument("--view-model", help="the model whose encoding t-SNE and UMAP lay out (default: the bundled "
                                             "20-d model)")
    args = parser.parse_args()
    folder = data_dir()
    app = QApplication.instance() or QApplication(sys.argv)
    configure_application(app)
    settings_folder = tempfile.mkdtemp(prefix="vaestudio-bench-settings-")
    for settings_format in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(settings_format, QSettings.Scope.UserScope, settings_folder)

    saved = the_model(args.model)
    session = ModelSession()
    session.load_saved(saved, "bundled")
    panel = ExplorerPanel(session, data_dir=folder)
    panel.resize(1280, 800)
    panel.show()
    wait_for(panel.mapUpdated)
    app.processEvents()
    print(f"model: {session.describe()}, projection {panel.settings.projection}, "
          f"{len(panel.result.layout.points):,} points, torch threads {torch.get_num_threads()}")

    clicks = click_latencies(app, panel, args.clicks)
    click_p50, click_p95 = percentile(clicks, 50), percentile(clicks, 95)
    print(f"click to preview: p50 {click_p50:.2f} ms, p95 {click_p95:.2f} ms, max {max(clicks):.2f} ms "
          f"over {len(clicks)} clicks (target p95 <= {TARGET_CLICK_MS:.0f} ms)")

    reencodes, stall = reencode_times(panel, session, args.reencodes)
    reencode = percentile(reencodes, 50)
    print(f"re-encode and redraw {len(panel.result.indices):,} points: median {reencode:.0f} ms, "
          f"p95 {percentile(reencodes, 95):.0f} ms over {len(reencodes)} runs (target <= {TARGET_REENCODE_MS:.0f} ms); "
          f"longest GUI-thread gap meanwhile {stall:.0f} ms")
    panel.shutdown()

    frames, count = pan_frame_times(app, session, folder, args.frames)
    pan = percentile(frames, 95)
    print(f"pan a {count:,}-point map (1000x800, {PAN_PIXELS_PER_FRAME} px a frame): median frame "
          f"{percentile(frames, 50):.1f} ms, mean {np.mean(frames):.1f} ms, p95 {pan:.1f} ms, max {max(frames):.1f} ms "
          f"over {len(frames)} frames (target <= {TARGET_PAN_MS:.0f} ms)")
    z20 = [str(path) for path in bundled_models() if "z20" in path.name]
    views = views_of_the_test_set(folder, args.view_model or (z20[0] if z20 else args.model))
    print(result_line(click_p95_ms=click_p95, reencode_ms=reencode, pan_frame_ms=pan, **views))


if __name__ == "__main__":
    main()
