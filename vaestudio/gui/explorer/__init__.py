"""The latent map, its controls, and the explorer workspace that holds the panels."""
