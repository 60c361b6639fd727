"""One schema for a model file: every field is checked by type and range on open, with the CLI's and the Run
form's ranges, and anything wrong is "this file is not a valid model file", never a traceback."""

import json
import random
import re

import pytest
import torch
from model_file_tools import LATENT, read_parts, rewrite, write_valid_model
from tiny_data import write_idx_folder

from vaestudio.cli.main import main
from vaestudio.core.errors import ConfigError, ModelFileError
from vaestudio.core.models import fields
from vaestudio.core.models.model_files import load_model, open_model
from vaestudio.core.models.networks import HIDDEN_RANGE, LATENT_RANGE, ModelConfig
from vaestudio.core.models.training_config import SEED_RANGE, TrainingConfig

INVALID = "this file is not a valid model file: "


@pytest.fixture
def valid(tmp_path):
    return write_valid_model(tmp_path / "valid.safetensors")


def _set(key, value):
    def change(values):
        values[key] = value
        return values
    return change


def _set_model(key, value):
    def change(values):
        values["model"][key] = value
        return values
    return change


def _set_epoch(key, value):
    def change(values):
        values[0][key] = value
        return values
    return change


def _set_test(key, value):
    def change(values):
        values[0]["test"][key] = value
        return values
    return change


def test_the_valid_file_opens(valid):
    saved = open_model(valid)
    assert saved.epoch == 1 and saved.config == ModelConfig("mlp", LATENT, 16)
    assert saved.history.epochs[0].test.kl_per_dim == [3.0, 4.0, 3.0] and saved.optimizer_state is not None


def test_a_file_from_before_the_precision_setting_opens_as_trained_in_float32(valid, tmp_path):
    def without_precision(values):
        values.pop("precision", None)
        return values
    old = rewrite(valid, tmp_path / "old.safetensors", json_fields={"training_config": without_precision})
    assert "precision" not in json.loads(read_parts(old)[1]["training_config"])
    assert open_model(old).training.precision == "float32"  # what every run before the setting trained in
    recorded = rewrite(valid, tmp_path / "bf16.safetensors",
                       json_fields={"training_config": _set("precision", "bfloat16")})
    assert open_model(recorded).training.precision == "bfloat16"


# (metadata key, change of its parsed JSON, what the message names)
BAD_JSON_FIELDS = [
    ("model_config", _set("latent_dim", float("inf")), "latent_dim must be a whole number, not inf"),
    ("model_config", _set("latent_dim", 0), "Latent size 0 is out of range"),
    ("model_config", _set("latent_dim", -3), "Latent size -3 is out of range"),
    ("model_config", _set("latent_dim", 3.0), "latent_dim must be a whole number, not 3.0"),
    ("model_config", _set("latent_dim", "3"), "latent_dim must be a whole number, not '3'"),
    ("model_config", _set("latent_dim", True), "latent_dim must be a whole number, not True"),
    ("model_config", _set("hidden", 10**9), "Hidden width 1000000000 is out of range"),
    ("model_config", _set("kind", "transformer"), "Unknown model type 'transformer'"),
    ("model_config", _set("kind", ["mlp"]), "kind must be text"),
    ("model_config", lambda values: [values], "the model configuration must be a JSON object"),
    ("model_config", lambda values: {"kind": "mlp"}, "'latent_dim' is missing"),
    ("training_config", _set("lr", "fast"), "Learning rate must be a number, not 'fast'"),
    ("training_config", _set("lr", float("inf")), "Learning rate must be above 0 and at most 1 \\(got inf\\)"),
    ("training_config", _set("lr", -1.0), "Learning rate must be above 0"),
    ("training_config", _set("pixels", "sparkly"), "Unknown pixel mode 'sparkly'"),
    ("training_config", _set("pixels", 3), "Unknown pixel mode 3"),
    ("training_config", _set("epochs", -1), "Epochs must be 1 or more"),
    ("training_config", _set("seed", 10**23), "The seed must be between 0 and 2147483647"),
    ("training_config", _set("seed", -1), "The seed must be between 0"),
    ("training_config", _set("batch_size", 1.5), "Batch size must be a whole number"),
    ("training_config", _set("beta", float("nan")), "Beta .* must be between"),
    ("training_config", _set("kl_warmup_epochs", 1e300), "KL warm-up must be between"),
    ("training_config", _set("fused_step", "yes"), "fused-step setting must be true or false"),
    ("training_config", _set("precision", "float16"), "Unknown precision 'float16': choose auto, float32 or bfloat16"),
    ("training_config", _set("precision", 16), "Unknown precision '16'"),
    ("training_config", _set("dataset", {"name": "mnist"}), "The dataset must be text"),
    ("training_config", _set_model("latent_dim", 5), "the training settings describe .* but the file holds"),
    ("history_epochs", _set_epoch("epoch", "one"), "epoch must be a whole number, not 'one'"),
    ("history_epochs", _set_epoch("train_loss", None), "train_loss must be a number, not None"),
    ("history_epochs", _set_epoch("test", [1, 2]), "test must be a JSON object"),
    ("history_epochs", _set_test("kl_per_dim", [1.0]), "per-dimension KL has 1 values for a latent of 3"),
    ("history_epochs", _set_test("kl_per_dim", "big"), "kl_per_dim must be a list"),
    ("history_epochs", _set_test("kl_per_dim", [1.0, "x", 2.0]), "kl_per_dim\\[1\\] must be a number"),
    ("history_epochs", _set_test("active_units", 99), "99 active units of a latent of 3"),
    ("history_epochs", _set_test("iwae_samples", 10**12), "iwae_samples must be between 0 and 10000"),
    ("history_epochs", lambda values: {"epoch": 1}, "history_epochs must be a list"),
    ("history_epochs", lambda values: [7], "an epoch result must be a JSON object"),
    ("class_names", lambda values: [1, 2], "class name 0 must be text"),
    ("class_names", lambda values: "0123456789", "class_names must be a list"),
    ("versions", lambda values: [1], "versions must be a JSON object"),
    ("optimizer_param_groups", lambda values: [1, 2], "an optimiser parameter group must be a JSON object"),
    ("optimizer_param_groups", lambda values: [{**values[0], "params": ["a"]}], "optimiser parameter index"),
    ("optimizer_param_groups", lambda values: [{**values[0], "params": [0]}], "belongs to no parameter group"),
    ("optimizer_param_groups", lambda values: [{**values[0], "lr": "fast"}], "lr must be a number"),
    ("optimizer_param_groups", lambda values: [{**values[0], "betas": [{"a": 1}]}], "optimiser setting 'betas'"),
]


@pytest.mark.parametrize("key, change, message", BAD_JSON_FIELDS,
                         ids=[f"{key}-{message[:30]}" for key, _, message in BAD_JSON_FIELDS])
def test_a_wrong_field_is_named(valid, tmp_path, key, change, message):
    bad = rewrite(valid, tmp_path / "bad.safetensors", json_fields={key: change})
    with pytest.raises(ModelFileError, match=INVALID + ".*" + message):
        open_model(bad)


BAD_RAW_METADATA = [
    ({"epoch": "-1"}, "epoch must be a whole number from 0 to 100000 \\(got '-1'\\)"),
    ({"epoch": "1e23"}, "epoch must be a whole number"),
    ({"epoch": str(10**23)}, "epoch must be a whole number"),
    ({"model_config": "{\"kind\": \"mlp\", \"latent_dim\": Infinity, \"hidden\": 16}"}, "latent_dim must be a whole"),
    ({"model_config": "not json"}, "model_config is not valid JSON"),
    ({"history_epochs": "[" * 100_000 + "]" * 100_000}, "history_epochs is JSON nested more than 32 levels deep"),
    ({"optimizer_param_groups": "[" * 100_000}, "optimizer_param_groups is JSON nested more than 32 levels"),
    ({"versions": "{\"a\":" * 50_000 + "1" + "}" * 50_000}, "versions is JSON nested more than 32 levels"),
    ({"training_config": "[]"}, "the training settings must be a JSON object"),
]


@pytest.mark.parametrize("metadata, message", BAD_RAW_METADATA, ids=[m[:30] for _, m in BAD_RAW_METADATA])
def test_wrong_raw_metadata_is_named(valid, tmp_path, metadata, message):
    bad = rewrite(valid, tmp_path / "bad.safetensors", metadata=metadata)
    with pytest.raises(ModelFileError, match=INVALID + ".*" + message):
        open_model(bad)


BAD_TENSORS = [
    ({"model.encoder_mu.weight": torch.tensor(1.0)}, "the weights do not match the mlp network"),
    ({"model.encoder_mu.weight": torch.zeros(2, 2)}, "the weights do not match the mlp network"),
    ({"model.encoder_mu.weight": None}, "the weights do not match the mlp network"),
    ({"model.surprise": torch.zeros(2)}, "the weights do not match the mlp network"),
    ({"model.encoder_mu.weight": torch.zeros(LATENT, 16, dtype=torch.int64)}, "holds torch.int64, not floating"),
    ({"model.encoder_mu.bias": torch.full((LATENT,), float("nan"))}, "'encoder_mu.bias' holds NaN or infinite"),
    ({"model.decoder_out.weight": torch.full((784, 16), float("inf"))}, "holds NaN or infinite values"),
    ({"history.step_loss": torch.zeros(2, 2)}, "the step history 'step_loss' is torch.float32 of shape \\(2, 2\\)"),
    ({"history.step_kl": torch.zeros(2, dtype=torch.int32)}, "the step history 'step_kl' is torch.int32"),
    ({"history.step_kl": torch.zeros(5)}, "differ in length"),
    ({"rng.torch": torch.zeros(3, 3)}, "the saved random stream is torch.float32"),
    ({"optimizer.x.exp_avg": torch.zeros(2)}, "belongs to no parameter group"),
    ({"optimizer.99.exp_avg": torch.zeros(2)}, "belongs to no parameter group"),
]


@pytest.mark.parametrize("tensors, message", BAD_TENSORS, ids=[m[:40] for _, m in BAD_TENSORS])
def test_wrong_tensors_are_named(valid, tmp_path, tensors, message):
    bad = rewrite(valid, tmp_path / "bad.safetensors", tensors=tensors)
    with pytest.raises(ModelFileError, match=INVALID + ".*" + message):
        open_model(bad)


def test_the_bounds_are_the_ones_the_cli_and_run_form_use():
    """ModelConfig.from_dict (files) and TrainingConfig.validate (CLI, Run form) draw the same lines."""
    for latent in (LATENT_RANGE[0] - 1, LATENT_RANGE[1] + 1):
        with pytest.raises(ConfigError):
            ModelConfig.from_dict({"kind": "mlp", "latent_dim": latent, "hidden": 16})
        with pytest.raises(ConfigError):
            TrainingConfig(model=ModelConfig("mlp", latent, 16)).validate()
    for hidden in HIDDEN_RANGE:
        assert ModelConfig.from_dict({"kind": "mlp", "latent_dim": 2, "hidden": hidden}).hidden == hidden
    for seed in (SEED_RANGE[1] + 1, 10**23):
        with pytest.raises(ConfigError, match="The seed must be between"):
            TrainingConfig(seed=seed).validate()
    assert TrainingConfig.from_dict({**TrainingConfig().to_dict(), "seed": SEED_RANGE[1]}).seed == SEED_RANGE[1]


def test_field_readers_refuse_booleans_and_non_finite_numbers():
    with pytest.raises(ConfigError):
        fields.integer_value(True, "x")
    with pytest.raises(ConfigError):
        fields.number_value(float("nan"), "x")
    assert fields.number_value(float("inf"), "x", finite=False) == float("inf")
    with pytest.raises(ConfigError):
        fields.number_value(10**400, "x")


def test_a_seeded_fuzz_of_the_metadata_gives_only_our_error(valid, tmp_path):
    """300 random edits of the metadata's JSON values: each file opens or is refused with our message."""
    _, metadata = read_parts(valid)
    oddities = [None, True, -1, 0, 2**64, 1e308, float("inf"), float("nan"), "", "x" * 5000, [], {}, [[[]]],
                {"kind": "conv"}, -0.0, 3.5, "mlp", [1, "a", None]]
    generator = random.Random(1234)
    outcomes = {"opened": 0, "refused": 0}
    for attempt in range(300):
        key = generator.choice([k for k in metadata if k not in ("format", "format_version", "dataset", "epoch")])
        values = json.loads(metadata[key])

        def mutate(value, depth=0):
            if isinstance(value, dict) and value and generator.random() < 0.8:
                inner = generator.choice(list(value))
                return {**value, inner: mutate(value[inner], depth + 1)}
            if isinstance(value, list) and value and generator.random() < 0.8:
                index = generator.randrange(len(value))
                return value[:index] + [mutate(value[index], depth + 1)] + value[index + 1:]
            return generator.choice(oddities)

        bad = rewrite(valid, tmp_path / f"fuzz{attempt % 3}.safetensors", metadata={key: json.dumps(mutate(values))})
        try:
            open_model(bad)
            outcomes["opened"] += 1
        except ModelFileError as error:
            assert INVALID in str(error)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 200


@pytest.fixture
def idx_spec(tmp_path):
    write_idx_folder(tmp_path / "digits", train=64, test=32)
    return f"idx:{tmp_path / 'digits'}"


@pytest.mark.parametrize("command", [
    ["eval", "{model}"], ["sheet", "{model}", "--kind", "traversal", "--out", "{out}.png"],
    ["export", "{model}", "--table", "epochs", "--out", "{out}.csv"],
    ["train", "--resume", "{model}", "--epochs", "3", "--device", "cpu"]])
@pytest.mark.parametrize("change", [
    {"history_epochs": json.dumps([{"epoch": 1, "epochs": 2, "train_loss": "x"}])},
    {"training_config": json.dumps({**TrainingConfig().to_dict(), "lr": "fast"})},
    {"model_config": "{\"kind\": \"mlp\", \"latent_dim\": Infinity, \"hidden\": 16}"},
    {"epoch": "-1"}], ids=["history", "lr", "latent", "epoch"])
def test_every_cli_command_refuses_an_invalid_file_with_our_message(valid, tmp_path, command, change, capsys):
    bad = rewrite(valid, tmp_path / "bad.safetensors", metadata=change)
    argv = [part.format(model=bad, out=tmp_path / "out") for part in command]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("vaestudio: error: ") and INVALID in error and "Traceback" not in error


def test_eval_json_writes_null_for_infinite_figures(valid, tmp_path, idx_spec, capsys, monkeypatch):
    from vaestudio.cli import commands
    from vaestudio.core.models.history import EvaluationResult

    def infinite(*args, **kwargs):
        return EvaluationResult(float("inf"), float("inf"), float("nan"), [float("inf")] * LATENT, 0, None, 0, 32)

    monkeypatch.setattr(commands, "evaluate_model", infinite)
    assert main(["eval", str(valid), "--dataset", idx_spec, "--json"]) == 0
    out = capsys.readouterr().out
    assert "Infinity" not in out and "NaN" not in out
    report = json.loads(out)
    assert report["loss"] is None and report["kl"] is None and report["kl_per_dim"] == [None] * LATENT


@pytest.mark.parametrize("argv, message", [
    (["eval", "{model}", "--iwae-samples", "1000000000"], "--iwae-samples must be from 0 to 10,000"),
    (["eval", "{model}", "--iwae-samples", "-1"], "--iwae-samples must be from 0 to 10,000"),
    (["sheet", "{model}", "--seed", str(10**23), "--out", "{out}.png"], "The seed must be a whole number from 0"),
    (["sheet", "{model}", "--seed", "-5", "--out", "{out}.png"], "The seed must be a whole number from 0"),
    (["train", "--dataset", "mnist", "--seed", str(10**23)], "The seed must be between 0 and 2147483647"),
    (["train", "--dataset", "mnist", "--latent-dim", str(10**23)], "Latent size .* is out of range"),
])
def test_every_count_a_person_types_is_bounded(valid, tmp_path, argv, message, capsys):
    assert main([part.format(model=valid, out=tmp_path / "out") for part in argv]) == 2
    assert re.match(f"vaestudio: error: {message}", capsys.readouterr().err)


def test_loading_a_model_never_raises_anything_but_our_error(valid, tmp_path, monkeypatch):
    """An unexpected failure inside a library while opening is still "not a valid model file"."""
    from vaestudio.core.models import model_files

    def broken(*args, **kwargs):
        raise IndexError("something deep inside went wrong")

    monkeypatch.setattr(model_files, "read_contents", broken)
    with pytest.raises(ModelFileError, match=INVALID + "IndexError: something deep inside went wrong"):
        load_model(valid)
