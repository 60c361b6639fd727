"""Datasets: named ones, IDX files, image folders, the package-index copy of MNIST, and where files live."""
