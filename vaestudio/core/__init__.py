"""The VAE Studio core: data, models, objectives, training, model files.

Everything here uses torch and numpy only; it never imports Qt, so the command line,
notebooks and training servers can use it without a display.
"""
