"""Nonlinear views of the latent space for the map: t-SNE (openTSNE) and UMAP (umap-learn, optional).

Both are views, not planes: a map point does not name one latent vector. A fitted view keeps
what it needs to place new latent vectors (the sketch pad's) with the library's `transform`;
UMAP can also map a point of its view back to an approximate latent vector with its
`inverse_transform` (a guess from the neighbouring points, never an exact inverse).

Progress and cancelling are cooperative: `progress(fraction)` is called now and then and
answers False to stop, which raises `EmbeddingCancelled`. t-SNE reports every few
iterations (openTSNE's callbacks). UMAP has no callbacks: it reports its start and end, and
its epochs through the progress bar it can show (umap-learn's `tqdm_kwds`, written to a file
of ours); a stop asked for before the epochs is honoured when they begin. The libraries are
imported when first used (openTSNE brings scikit-learn, a few seconds; UMAP compiles its
code with numba on its first run in a process, one to two minutes on a 2-core laptop).
"""

from __future__ import annotations

import importlib.util
import io
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vaestudio.core.errors import ConfigError, VaeStudioError

Progress = Callable[[float], bool]
"""Called with the fraction done; answers False to stop (then `EmbeddingCancelled` is raised)."""

EMBEDDINGS = {"tsne": "t-SNE", "umap": "UMAP"}  # kind -> title
MINIMUM_POINTS = 10
REPORT_EVERY = 10        # t-SNE iterations between progress reports (and chances to stop)
NEIGHBOUR_SHARE = 0.2    # the part of the progress before the iterations (neighbours, affinities or graph)
EXAGGERATION = 12.0
UMAP_INSTALL = "pip install 'vaestudio[umap]'"


class EmbeddingCancelled(Exception):
    """The progress callback asked to stop (not an error: nothing is shown)."""


class MissingPackageError(VaeStudioError):
    """An optional package that a chosen feature needs is not installed."""


@dataclass(frozen=True)
class EmbeddingConfig:
    perplexity: float = 30.0   # t-SNE: about the number of neighbours each point keeps close
    iterations: int = 750      # t-SNE: a third with early exaggeration, then the rest (a refinement: a third)
    neighbours: int = 15       # UMAP: the size of the neighbourhood it preserves
    umap_epochs: int | None = None  # UMAP: None lets UMAP choose (200 for large data, 500 for small)
    seed: int = 0

    def validate(self) -> EmbeddingConfig:
        if not 2.0 <= self.perplexity <= 100.0:
            raise ConfigError(f"t-SNE perplexity must be between 2 and 100 (got {self.perplexity}).")
        if not 30 <= self.iterations <= 10_000:
            raise ConfigError(f"t-SNE iterations must be between 30 and 10000 (got {self.iterations}).")
        if not 2 <= self.neighbours <= 200:
            raise ConfigError(f"UMAP neighbours must be between 2 and 200 (got {self.neighbours}).")
        if self.umap_epochs is not None and not 10 <= self.umap_epochs <= 5000:
            raise ConfigError(f"UMAP epochs must be between 10 and 5000 (got {self.umap_epochs}).")
        return self


def _report(progress: Progress | None, fraction: float) -> None:
    if progress is not None and progress(fraction) is False:
        raise EmbeddingCancelled


class _EpochReports(io.TextIOBase):
    """A file for tqdm that turns the 'n/total' it writes (our bar format) into progress reports."""

    BAR_FORMAT = "{n}/{total}"

    def __init__(self, progress: Progress | None, start: float) -> None:
        super().__init__()
        self.progress, self.start, self.stopped = progress, start, False

    def write(self, text: str) -> int:
        done = re.search(r"(\d+)/(\d+)", text)
        if done and not self.stopped and int(done[2]) > 0:
            try:
                _report(self.progress, self.start + (1.0 - self.start) * int(done[1]) / int(done[2]))
            except EmbeddingCancelled:
                self.stopped = True  # tqdm writes once more as it closes: say nothing then
                raise
        return len(text)

    def tqdm_options(self) -> dict:
        # miniters=1: tqdm's monitor thread then never redraws the bar (and never calls us) itself.
        return {"disable": False, "file": self, "bar_format": self.BAR_FORMAT, "mininterval": 0.25, "miniters": 1}


class TSNEView:
    """A t-SNE of latent vectors (openTSNE): `points` (N, 2), and `place` for new vectors."""

    kind, title, has_inverse = "tsne", "t-SNE", False

    def __init__(self, embedding, latent_dim: int) -> None:
        # transform() centres the reference embedding on its bounding box in place: do it now,
        # so that the points shown and the points placed later share one frame.
        embedding -= (np.max(embedding, axis=0) + np.min(embedding, axis=0)) / 2
        # openTSNE's "auto" would choose a transform's gradient method by the number of *new* points:
        # Barnes-Hut for a few, which rebuilds a tree of every point of the view at each of its 250
        # iterations (seconds for one point). The FFT method builds its grid once and reuses it.
        embedding.gradient_descent_params["negative_gradient_method"] = "fft"
        self._embedding, self.latent_dim = embedding, latent_dim
        self.points = np.array(embedding, dtype=np.float32)

    def place(self, latents: np.ndarray) -> np.ndarray:
        """Map coordinates (M, 2) of new latent vectors (M, D), each optimised against the fixed view."""
        latents = np.asarray(latents, dtype=np.float64).reshape(-1, self.latent_dim)
        return np.asarray(self._embedding.transform(latents), dtype=np.float32)


class UMAPView:
    """A UMAP of latent vectors (umap-learn): `points` (N, 2), `place` and `approximate_latent`."""

    kind, title, has_inverse = "umap", "UMAP", True

    def __init__(self, reducer, latent_dim: int) -> None:
        self._reducer, self.latent_dim = reducer, latent_dim
        self.points = np.array(reducer.embedding_, dtype=np.float32)
        self._inverse = None  # UMAPInverse, built by prepare_inverse

    def prepare_inverse(self) -> None:
        """Triangulate the view and compile umap-learn's inverse (numba, seconds the first time in a process)
        now, in the job that builds the view, rather than at the first click. A umap-learn whose fitted state
        differs from the one UMAPInverse reads keeps its own (slow) inverse_transform."""
        from vaestudio.core.latent.umap_inverse import UMAPInverse

        try:
            self._inverse = UMAPInverse(self._reducer)
            self._inverse(self.points[:1])
        except (AttributeError, KeyError, ImportError):
            self._inverse = None

    def place(self, latents: np.ndarray) -> np.ndarray:
        """Map coordinates (M, 2) of new latent vectors (M, D)."""
        latents = np.asarray(latents, dtype=np.float32).reshape(-1, self.latent_dim)
        return np.asarray(self._reducer.transform(latents), dtype=np.float32)

    def approximate_latent(self, points: np.ndarray) -> np.ndarray:
        """Approximate latent vectors (M, D) of map points (M, 2): UMAP's inverse_transform, which
        optimises a vector against the latent vectors of the points around it on the map."""
        points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        inverse = self._inverse or self._reducer.inverse_transform
        return np.asarray(inverse(points), dtype=np.float32)


MapView = TSNEView | UMAPView


def tsne_view(latents: np.ndarray, config: EmbeddingConfig = EmbeddingConfig(), init: np.ndarray | None = None,
              progress: Progress | None = None) -> TSNEView:
    """A t-SNE (openTSNE, one thread) of latent vectors (N, D).

    The perplexity is lowered when there are too few points for it. With `init` (a previous
    view of the same points) early exaggeration is skipped and a third of the iterations
    refine the layout from there, so successive views of a changing model stay put.
    """
    from openTSNE import TSNEEmbedding, affinity, initialization

    latents = _checked(latents, config)
    perplexity = min(config.perplexity, (len(latents) - 1) / 3.0)
    _report(progress, 0.0)
    affinities = affinity.PerplexityBasedNN(latents, perplexity=perplexity, n_jobs=1, random_state=config.seed)
    _report(progress, NEIGHBOUR_SHARE)
    if init is None:
        start = initialization.pca(latents, random_state=config.seed)
        phases = [(config.iterations // 3, EXAGGERATION, 0.5)]
        phases.append((config.iterations - phases[0][0], None, 0.8))
    else:
        start = np.array(init, dtype=np.float64)
        phases = [(config.iterations // 3, None, 0.8)]
    total, done = sum(steps for steps, _, _ in phases), 0

    def report(iteration: int, error: float, embedding) -> bool:
        _report(progress, NEIGHBOUR_SHARE + (1.0 - NEIGHBOUR_SHARE) * min(1.0, (done + iteration) / total))
        return False

    embedding = TSNEEmbedding(start, affinities, negative_gradient_method="auto", n_jobs=1,
                              random_state=config.seed, callbacks=[report], callbacks_every_iters=REPORT_EVERY)
    for steps, exaggeration, momentum in phases:
        embedding = embedding.optimize(steps, exaggeration=exaggeration, momentum=momentum, inplace=True)
        done += steps
    return TSNEView(embedding, latents.shape[1])


def umap_installed() -> bool:
    """Whether umap-learn can be imported (checked without importing it, which takes seconds)."""
    try:
        return importlib.util.find_spec("umap") is not None
    except (ImportError, ValueError):
        return False


def require_umap() -> None:
    """Raise `MissingPackageError`, saying how to install it, when umap-learn is not installed."""
    if not umap_installed():
        raise MissingPackageError(
            "The UMAP view needs the optional package umap-learn, which is not installed here. Install it with "
            f"`{UMAP_INSTALL}` (or `pip install umap-learn`) in VAE Studio's environment, then choose UMAP again.")


def umap_view(latents: np.ndarray, config: EmbeddingConfig = EmbeddingConfig(), init: np.ndarray | None = None,
              progress: Progress | None = None) -> UMAPView:
    """A UMAP (umap-learn, seeded, one thread) of latent vectors (N, D); `init` starts from a previous view."""
    require_umap()
    latents = _checked(latents, config)
    _report(progress, 0.0)
    with warnings.catch_warnings():  # umap-learn says that its TensorFlow variant is unavailable: not used here
        warnings.filterwarnings("ignore", message=".*ParametricUMAP.*")
        import umap  # here, not at the top: umap-learn is an optional extra and takes seconds to import

    epochs = _EpochReports(progress, NEIGHBOUR_SHARE)
    reducer = umap.UMAP(n_neighbors=min(config.neighbours, len(latents) - 1), n_components=2,
                        n_epochs=config.umap_epochs, random_state=config.seed, n_jobs=1,
                        init="spectral" if init is None else np.asarray(init, dtype=np.float32),
                        tqdm_kwds=epochs.tqdm_options())
    reducer.fit(latents)
    reducer.tqdm_kwds = {"disable": True}  # transform and inverse_transform report nothing
    view = UMAPView(reducer, latents.shape[1])
    view.prepare_inverse()
    _report(progress, 1.0)
    return view


VIEW_BUILDERS = {"tsne": tsne_view, "umap": umap_view}


def embed(kind: str, latents: np.ndarray, config: EmbeddingConfig = EmbeddingConfig(),
          init: np.ndarray | None = None, progress: Progress | None = None) -> MapView:
    """The `kind` view ('tsne' or 'umap') of latent vectors (N, D)."""
    if kind not in VIEW_BUILDERS:
        raise ConfigError(f"Unknown map view {kind!r}: choose one of {', '.join(VIEW_BUILDERS)}.")
    return VIEW_BUILDERS[kind](latents, config, init, progress)


def _checked(latents: np.ndarray, config: EmbeddingConfig) -> np.ndarray:
    config.validate()
    latents = np.ascontiguousarray(latents, dtype=np.float32)
    if latents.ndim != 2 or len(latents) < MINIMUM_POINTS:
        raise ConfigError(f"A t-SNE or UMAP view needs at least {MINIMUM_POINTS} encoded points "
                          f"(got {len(latents)}).")
    return latents
