"""The session keeps showing (and saving) the model it had until a new run's first snapshot arrives."""

from __future__ import annotations

from vaestudio.core.models.history import TrainingHistory
from vaestudio.core.models.networks import ModelConfig, build_model
from vaestudio.core.models.training_config import TrainingConfig


def test_a_new_run_takes_over_at_its_first_snapshot(session, model, qtbot):
    shown_config = session.training
    run_config = TrainingConfig(dataset="tiny", model=ModelConfig("mlp", 3, 16))
    run_history = TrainingHistory(step_loss=[1.0, 2.0])
    session.start_training(run_config, ["a", "b"], "/tmp/run/model.safetensors", run_history)
    assert session.model is model and session.training is shown_config and session.origin != "trained"

    state = build_model(run_config.model).state_dict()
    with qtbot.waitSignal(session.modelChanged):
        session.update_weights(state, 1, run_history)
    assert session.model.config == run_config.model and session.training is run_config
    assert session.origin == "trained" and session.epoch == 1 and session.history is run_history
    assert session.class_names == ["a", "b"]

    with qtbot.waitSignal(session.weightsUpdated):
        session.update_weights(state, 2, run_history)
    assert session.epoch == 2
