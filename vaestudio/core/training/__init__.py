"""Training: the run, the trainer and its steps, objectives, evaluation, devices."""
