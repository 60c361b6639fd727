"""The founding claim: the PyTorch example's network, trained by us for 10 epochs on MNIST, reaches its test loss."""

from tiny_data import MNIST_DIR, needs_mnist

from vaestudio.core.data.datasets import load_dataset
from vaestudio.core.models.history import EpochResult
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.trainer import Trainer

pytestmark = needs_mnist


def test_founding_mlp_reaches_106_nats_in_10_epochs():
    data = load_dataset("mnist", data_dir=MNIST_DIR, download=False)
    trainer = Trainer(TrainingConfig(epochs=10, seed=1, device="cpu"), data)
    results = [record for record in trainer.run() if isinstance(record, EpochResult)]
    assert len(results) == 10
    assert results[-1].test.loss <= 106.0
    assert results[-1].test.active_units == 20
