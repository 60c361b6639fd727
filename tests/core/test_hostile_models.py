"""Hostile and broken model files: no file runs code, every one is refused with our own message, and no
size a file claims is allocated before it is checked."""

import ast
import json
import struct
import tracemalloc
from pathlib import Path

import pytest
import torch
from hostile_files import hostile_model_files
from model_file_tools import raw_safetensors, read_parts, rewrite, write_valid_model
from safetensors.torch import save as save_bytes

import vaestudio
from vaestudio.cli.main import main
from vaestudio.core.errors import ModelFileError
from vaestudio.core.models.model_files import open_model

INVALID = "not a valid model file|not a PyTorch state_dict that can be read safely"


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "MARKER-code-ran"


@pytest.fixture
def hostile(tmp_path, marker):
    return hostile_model_files(tmp_path / "hostile", marker)


def test_the_payload_would_run_if_unpickled(tmp_path, marker, hostile):
    """The files are truly hostile: a plain torch.load (weights_only=False) runs the payload."""
    torch.load(hostile["torch-zip.pt"], weights_only=False)
    assert marker.read_text() == "code ran"


@pytest.mark.parametrize("name", ["pickle.pt", "pickle-protocol-0.pkl", "torch-zip.pt", "torch-legacy.pt",
                                  "custom-class.pt", "class-reference.pt", "pt-renamed.safetensors",
                                  "pickle-renamed.safetensors"])
def test_open_model_refuses_every_hostile_file(hostile, marker, name):
    with pytest.raises(ModelFileError, match=INVALID):
        open_model(hostile[name])
    assert not marker.exists()


@pytest.mark.parametrize("command", [["eval", "{model}"], ["sheet", "{model}", "--out", "{out}.png"],
                                     ["export", "{model}", "--table", "history", "--out", "{out}.csv"],
                                     ["train", "--resume", "{model}", "--epochs", "5", "--device", "cpu"]])
def test_every_command_refuses_hostile_files(hostile, marker, tmp_path, command, capsys):
    for path in hostile.values():
        assert main([part.format(model=path, out=tmp_path / "out") for part in command]) == 2
        error = capsys.readouterr().err
        assert error.startswith("vaestudio: error: ") and "Traceback" not in error
    assert not marker.exists()


def _torch_load_calls(tree: ast.AST):
    """Calls of torch.load (as `torch.load(...)` or an imported `load` from torch) in a module."""
    aliases = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               and node.module in ("torch", "torch.serialization") for alias in node.names if alias.name == "load"}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if (isinstance(function, ast.Attribute) and function.attr == "load" and isinstance(function.value, ast.Name)
                and function.value.id == "torch") or (isinstance(function, ast.Name) and function.id in aliases):
            yield node


def test_every_torch_load_in_vaestudio_is_weights_only():
    """Removing weights_only=True from any torch.load in the package fails this test."""
    calls = []
    for path in Path(vaestudio.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _torch_load_calls(tree):
            keywords = {keyword.arg: keyword.value for keyword in call.keywords}
            safe = isinstance(keywords.get("weights_only"), ast.Constant) and keywords["weights_only"].value is True
            calls.append((f"{path.name}:{call.lineno}", safe))
        restricted = {id(base) for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                      and any(isinstance(item, ast.FunctionDef) and item.name == "find_class" for item in node.body)
                      for base in node.bases}  # an Unpickler subclass that allows only named globals
        for node in ast.walk(tree):  # nothing else unpickles either
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "pickle":
                assert node.attr not in ("load", "loads"), f"{path.name}:{node.lineno} unpickles"
                assert node.attr != "Unpickler" or id(node) in restricted, f"{path.name}:{node.lineno} unpickles"
            if isinstance(node, ast.keyword) and node.arg == "allow_pickle":
                assert getattr(node.value, "value", True) is False, f"{path.name}:{node.value.lineno} allows pickles"
    assert calls, "the scan found no torch.load at all: it no longer looks where torch is used"
    assert [where for where, safe in calls if not safe] == []


# --- broken and crafted safetensors files ---

def _one_tensor_header(**entry) -> dict:
    return {"__metadata__": {"format": "vaestudio-model"},
            "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], **entry}}


CRAFTED = [
    ("header claims 2^62 bytes", struct.pack("<Q", 2**62) + b"{}" + b"\0" * 64, "claim a header of"),
    ("header claims the whole file", struct.pack("<Q", 100) + b"{" + b" " * 91, "no safetensors header"),
    ("offset past the end", raw_safetensors(_one_tensor_header(data_offsets=[0, 10**12]), b"\0" * 8), "outside"),
    ("offsets reversed", raw_safetensors(_one_tensor_header(data_offsets=[8, 0]), b"\0" * 8), "outside"),
    ("offsets overlap", raw_safetensors({**_one_tensor_header(), "v": {"dtype": "F32", "shape": [2],
                                         "data_offsets": [4, 12]}}, b"\0" * 12), "overlaps another"),
    ("gap before a tensor", raw_safetensors(_one_tensor_header(data_offsets=[4, 12]), b"\0" * 12), "leaves a gap"),
    ("bytes left over", raw_safetensors(_one_tensor_header(), b"\0" * 16), "cover 8 of the file's 16 bytes"),
    ("shape does not fill its bytes", raw_safetensors(_one_tensor_header(shape=[10**6]), b"\0" * 8),
     "does not fill its 8 bytes"),
    ("negative shape", raw_safetensors(_one_tensor_header(shape=[-2]), b"\0" * 8), "invalid shape"),
    ("huge shape", raw_safetensors(_one_tensor_header(shape=[2**62, 2**62]), b"\0" * 8), "invalid shape"),
    ("float shape", raw_safetensors(_one_tensor_header(shape=[2.0]), b"\0" * 8), "invalid shape"),
    ("unknown dtype", raw_safetensors(_one_tensor_header(dtype="F128"), b"\0" * 8), "unknown dtype 'F128'"),
    ("entry is a list", raw_safetensors({"w": [1, 2]}, b""), "has no description"),
    ("header is a list", struct.pack("<Q", 2) + b"[]", "no safetensors header"),
    ("metadata not strings", raw_safetensors({"__metadata__": {"format": 1}}, b""), "not a table of strings"),
    ("nested header", struct.pack("<Q", 20_001) + b"{" + b"[" * 10_000 + b"]" * 10_000, "nested more than 32"),
    ("invalid utf-8", struct.pack("<Q", 4) + b"{\xff\xfe}", "not valid JSON"),
    ("seven bytes", b"\x01" * 7, "only 7 bytes long"),
]


@pytest.mark.parametrize("content, message", [c[1:] for c in CRAFTED], ids=[c[0] for c in CRAFTED])
def test_crafted_safetensors_headers_are_refused(tmp_path, content, message):
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=f"this file is not a valid model file: .*{message}"):
        open_model(path)


def test_a_header_claiming_gigabytes_allocates_nothing_of_that_size(tmp_path):
    path = tmp_path / "claims.safetensors"
    path.write_bytes(struct.pack("<Q", 8 * 2**30) + b"{" + b" " * 1000)
    tracemalloc.start()
    with pytest.raises(ModelFileError):
        open_model(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5 * 2**20


def test_a_header_over_the_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from vaestudio.core.models import safetensors_header

    path = write_valid_model(tmp_path / "m.safetensors")
    monkeypatch.setattr(safetensors_header, "MAX_HEADER_BYTES", 100)
    with pytest.raises(ModelFileError, match="its header claims .* bytes; at most 100 are allowed"):
        open_model(path)


def test_huge_metadata_values_are_refused(tmp_path):
    valid = write_valid_model(tmp_path / "valid.safetensors")
    huge_names = json.dumps(["x"] * 200_000)
    with pytest.raises(ModelFileError, match="class_names has 200,000 entries; at most 100,000"):
        open_model(rewrite(valid, tmp_path / "names.safetensors", metadata={"class_names": huge_names}))
    with pytest.raises(ModelFileError, match="class name 0 is 10,000 characters long"):
        open_model(rewrite(valid, tmp_path / "long.safetensors", metadata={"class_names": json.dumps(["x" * 10_000])}))


def test_unknown_model_type_and_absurd_sizes_in_a_well_formed_file(tmp_path):
    valid = write_valid_model(tmp_path / "valid.safetensors")
    tensors, metadata = read_parts(valid)
    for config, message in (({"kind": "vit", "latent_dim": 3, "hidden": 16}, "Unknown model type 'vit'"),
                            ({"kind": "mlp", "latent_dim": 0, "hidden": 16}, "Latent size 0 is out of range"),
                            ({"kind": "mlp", "latent_dim": 3, "hidden": 10**9}, "Hidden width 1000000000"),
                            ({"kind": "mlp", "latent_dim": -5, "hidden": -16}, "Latent size -5 is out of range")):
        path = tmp_path / "absurd.safetensors"
        path.write_bytes(save_bytes(tensors, {**metadata, "model_config": json.dumps(config)}))
        tracemalloc.start()
        with pytest.raises(ModelFileError, match=message):
            open_model(path)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 50 * 2**20  # refused before a network of that size is built
