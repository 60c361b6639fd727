"""A run that trains in another process: `python run_writer.py DATASET OUT EPOCHS PAUSE_S`.

Trains a small MLP on DATASET and saves OUT after every epoch, as `vaestudio train` does
(atomically), pausing PAUSE_S seconds after each save; prints how many times it saved.
"""

from __future__ import annotations

import sys
import time

from vaestudio.core.models.networks import ModelConfig
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.run import RunObserver, TrainingRun


class Pause(RunObserver):
    def __init__(self, seconds: float) -> None:
        self.seconds, self.saves = seconds, 0

    def on_saved(self, run, path) -> None:
        self.saves += 1
        time.sleep(self.seconds)


def main(dataset: str, out: str, epochs: str, pause: str) -> None:
    config = TrainingConfig(dataset=dataset, model=ModelConfig("mlp", 4, 32), epochs=int(epochs), batch_size=64,
                            device="cpu", seed=2)
    pauses = Pause(float(pause))
    run = TrainingRun(config, out=out)
    run.add_observer(pauses)
    run.execute()
    print(f"saved {pauses.saves} times")


if __name__ == "__main__":
    main(*sys.argv[1:])
