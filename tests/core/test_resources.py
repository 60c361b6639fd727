"""Resources (bundled models, icon) are found through one function, inside the package or beside it."""

from pathlib import Path

import pytest

from vaestudio.core import resources
from vaestudio.core.errors import ResourceMissingError
from vaestudio.core.models.pretrained import DEFAULT_MODEL, bundled_models, default_bundled_model

CHECKOUT = Path(__file__).resolve().parents[2]


def test_a_checkout_reads_its_own_resources_folder():
    assert resources.resources_dir() == CHECKOUT / "resources"
    assert resources.icon_path() == CHECKOUT / "resources" / "icons" / "vaestudio.svg"
    assert default_bundled_model() == CHECKOUT / "resources" / "pretrained" / DEFAULT_MODEL
    assert {path.name for path in bundled_models()} == {"mnist-mlp-z2.safetensors", "mnist-mlp-z20.safetensors"}


def test_package_data_comes_first(tmp_path, monkeypatch):
    """An installed package (wheel, frozen build) carries vaestudio/resources: that copy is used."""
    (tmp_path / "resources" / "pretrained").mkdir(parents=True)
    (tmp_path / "resources" / "pretrained" / DEFAULT_MODEL).write_bytes(b"")
    monkeypatch.setattr(resources, "files", lambda package: tmp_path)
    assert resources.resources_dir() == tmp_path / "resources"
    assert default_bundled_model() == tmp_path / "resources" / "pretrained" / DEFAULT_MODEL


def test_missing_resources_say_where_they_were_looked_for(tmp_path, monkeypatch):
    folders = [tmp_path / "package" / "resources", tmp_path / "checkout" / "resources"]
    monkeypatch.setattr(resources, "resource_folders", lambda: folders)
    with pytest.raises(ResourceMissingError, match="Reinstall VAE Studio") as caught:
        default_bundled_model()
    assert all(str(folder) in str(caught.value) for folder in folders)


def test_a_missing_file_among_the_resources_is_named(tmp_path, monkeypatch):
    (tmp_path / "resources").mkdir()
    monkeypatch.setattr(resources, "resource_folders", lambda: [tmp_path / "resources"])
    with pytest.raises(ResourceMissingError, match="vaestudio.svg is missing"):
        resources.icon_path()
