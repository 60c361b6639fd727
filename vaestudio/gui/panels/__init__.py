"""The explorer's tool panels: interpolation, reconstruction, sliders, sketch pad; one file each."""
