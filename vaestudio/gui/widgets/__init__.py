"""Small reusable widgets and dialogs."""
