"""VAE Studio: train a variational autoencoder and explore its latent space."""

__version__ = "0.1.0"
