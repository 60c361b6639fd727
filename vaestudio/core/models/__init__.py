"""The networks, the settings and history a model carries, and model files."""
