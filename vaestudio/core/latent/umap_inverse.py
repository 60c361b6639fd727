"""UMAP's inverse (a map point back to an approximate latent vector), with its triangulation built once.

umap-learn's `UMAP.inverse_transform` triangulates the whole view and builds the adjacency of
that triangulation point by point in a sparse LIL matrix on every call: 4-11 s for a view of
10,000 points on a 2-core machine, spent before the point itself is looked at, so every click
on the UMAP view waited that long. `UMAPInverse` does the same computation, step by step and
with umap-learn's own functions, but triangulates once per view (about 0.1 s, vectorised); a
click then costs the neighbourhood search and umap-learn's optimisation of the one point. A
test checks that its result equals `inverse_transform`'s. It reads umap-learn's fitted state
(attributes with a leading underscore); a version whose state differs raises AttributeError or
KeyError, and the caller falls back to `inverse_transform`.
"""

from __future__ import annotations

import numpy as np


class UMAPInverse:
    """`inverse(points)` of a fitted (dense, euclidean, 2-D) umap.UMAP, as its `inverse_transform` computes it."""

    def __init__(self, reducer) -> None:
        import scipy.sparse
        import scipy.spatial

        self._reducer = reducer
        self._raw = reducer._raw_data
        for name in ("_a", "_b", "_sigmas", "_rhos", "_initial_alpha", "_inverse_distance_func", "_metric_kwds",
                     "_output_metric_kwds"):
            getattr(reducer, name)  # fail here, not mid-click, when this umap-learn keeps other state
        embedding = reducer.embedding_
        count = embedding.shape[0]
        self._triangulation = scipy.spatial.Delaunay(embedding, incremental=True, qhull_options="QJ")
        # Every pair of corners of every triangle (corners added by the triangulation itself left out), both ways
        # and each corner with itself: the adjacency inverse_transform builds entry by entry.
        simplices = self._triangulation.simplices
        first = np.repeat(simplices, simplices.shape[1], axis=1).ravel()
        second = np.tile(simplices, (1, simplices.shape[1])).ravel()
        kept = (first < count) & (second < count)
        adjacency = scipy.sparse.coo_matrix((np.ones(int(kept.sum()), dtype=np.int64), (first[kept], second[kept])),
                                            shape=(count, count)).tocsr()
        adjacency.sum_duplicates()
        adjacency.sort_indices()
        adjacency.data[:] = 1
        self._adjacency = adjacency

    def __call__(self, points: np.ndarray) -> np.ndarray:
        import scipy.sparse
        from sklearn.preprocessing import normalize
        from sklearn.utils import check_array, check_random_state
        from umap import distances
        from umap.layouts import optimize_layout_inverse
        from umap.umap_ import INT32_MAX, INT32_MIN, breadth_first_search, init_transform, make_epochs_per_sample

        reducer, raw, embedding = self._reducer, self._raw, self._reducer.embedding_
        points = check_array(points, dtype=np.float32, order="C")
        random_state = check_random_state(reducer.transform_seed)
        rng_state = random_state.randint(INT32_MIN, INT32_MAX, 3).astype(np.int64)
        triangulation = self._triangulation
        corners = triangulation.simplices[triangulation.find_simplex(points)]
        least = min(raw.shape[-1], raw.shape[0])
        neighbourhoods = [breadth_first_search(self._adjacency, corner[0], min_vertices=least) for corner in corners]
        distance = distances.named_distances[reducer.output_metric]
        arguments = tuple(reducer._output_metric_kwds.values())
        found = [np.array([distance(points[i], embedding[n], *arguments) for n in neighbourhoods[i]])
                 for i in range(points.shape[0])]
        order = np.array([np.argsort(d)[:least] for d in found])
        nearest = np.array([found[i][order[i]] for i in range(len(found))])
        indices = np.array([neighbourhoods[i][order[i]] for i in range(len(neighbourhoods))])
        rows, cols, lengths = np.array([[i, indices[i, j], nearest[i, j]] for i in range(indices.shape[0])
                                        for j in range(least)]).T
        weights = 1 / (1 + reducer._a * lengths ** (2 * reducer._b))
        graph = scipy.sparse.coo_matrix((weights, (rows, cols)), shape=(points.shape[0], raw.shape[0]))
        normalised = normalize(graph.tocsr(), norm="l1")
        start = init_transform(normalised.indices.reshape(points.shape[0], least),
                               normalised.data.reshape(points.shape[0], least), raw)
        if reducer.n_epochs is None:
            epochs = 100 if graph.shape[0] <= 10000 else 30
        else:
            epochs = int(reducer.n_epochs // 3.0)
        return optimize_layout_inverse(
            start, raw, graph.row, graph.col, graph.data, reducer._sigmas, reducer._rhos, epochs, graph.shape[1],
            make_epochs_per_sample(graph.data, epochs), reducer._a, reducer._b, rng_state,
            reducer.repulsion_strength, reducer._initial_alpha / 4.0, reducer.negative_sample_rate,
            reducer._inverse_distance_func, tuple(reducer._metric_kwds.values()), verbose=False,
            tqdm_kwds={"disable": True})
