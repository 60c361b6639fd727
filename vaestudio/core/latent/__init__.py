"""The latent space: encoding, projections, t-SNE, reconstruction, sheets and tables."""
