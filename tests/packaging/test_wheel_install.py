"""The wheel, installed into a fresh virtual environment, runs and finds its bundled model.

The wheel is built from a copy of the source tree (pip builds in the tree it is given), then
installed into a new environment that reuses this interpreter's packages (torch, Qt) through a
.pth file rather than installing them again. An editable install of the same copy reads the
copy's resources/ folder instead.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from vaestudio import __version__
from vaestudio.cli.main import main

if importlib.util.find_spec("pip") is None or importlib.util.find_spec("setuptools") is None:
    # setuptools is the build backend, used without build isolation so that nothing is downloaded
    pytest.skip("needs pip and setuptools (pip install -e '.[test]')", allow_module_level=True)

CHECKOUT = Path(__file__).resolve().parents[2]
SOURCE_FILES = ("pyproject.toml", "README.md", "vaestudio", "resources")
BIN = "Scripts" if os.name == "nt" else "bin"
SHEET_OPTIONS = ["--kind", "manifold", "--rows", "3", "--cols", "4", "--scale", "2"]
WHERE = "import vaestudio, vaestudio.core.resources as r; print(vaestudio.__file__); print(r.resources_dir())"


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def fresh_environment(folder: Path) -> Path:
    """A virtual environment that sees this interpreter's packages after its own; returns its python."""
    run(sys.executable, "-m", "venv", "--without-pip", folder, cwd=folder.parent)
    python = folder / BIN / ("python.exe" if os.name == "nt" else "python")
    own = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=folder).strip())
    shared = dict.fromkeys([*site.getsitepackages(), sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (own / "reuse-installed-packages.pth").write_text("".join(f"{path}\n" for path in shared))
    return python


def pip_install(python: Path, *arguments: str | Path, cwd: Path) -> None:
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        "--no-build-isolation", "-q", *arguments, cwd=cwd)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("packaging")
    (folder / "source").mkdir()
    for name in SOURCE_FILES:
        source = CHECKOUT / name
        if source.is_dir():
            shutil.copytree(source, folder / "source" / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, folder / "source" / name)
    return folder


@pytest.fixture(scope="module")
def wheel(work) -> Path:
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "--no-build-isolation", "-q",
        "-w", work / "dist", work / "source", cwd=work)
    (built,) = (work / "dist").glob("vaestudio-*.whl")
    return built


@pytest.fixture
def clean_env(tmp_path) -> dict[str, str]:
    """No PYTHONPATH (it would import the checkout) and a user folder of the test's own."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["VAESTUDIO_HOME"] = str(tmp_path / "home")
    return env


def test_the_wheel_holds_every_module_and_the_resources_inside_the_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {path.relative_to(CHECKOUT).as_posix() for path in (CHECKOUT / "vaestudio").rglob("*.py")}
    assert modules - names == set(), "add the missing sub-packages to [tool.setuptools] packages in pyproject.toml"
    shipped = {f"vaestudio/{path.relative_to(CHECKOUT).as_posix()}" for path in (CHECKOUT / "resources").rglob("*")
               if path.is_file()}
    assert shipped - names == set()
    assert not any(name.startswith(("resources/", "share/")) or ".data/" in name for name in names)


def test_an_installed_wheel_runs_from_its_own_files(wheel, work, clean_env, tmp_path):
    python = fresh_environment(tmp_path / "venv")
    pip_install(python, wheel, cwd=tmp_path)
    package, resources = run(python, "-c", WHERE, cwd=tmp_path, env=clean_env).split()
    installed = tmp_path / "venv"
    assert Path(package).is_relative_to(installed) and Path(resources).is_relative_to(installed)
    assert Path(resources).parent == Path(package).parent  # package data: vaestudio/resources

    command = installed / BIN / "vaestudio"
    version = run(command, "--version", cwd=tmp_path, env=clean_env).strip()
    assert version.startswith(f"vaestudio {__version__}; torch: ") and version.endswith(clean_env["VAESTUDIO_HOME"])

    bundled = Path(resources) / "pretrained" / "mnist-mlp-z2.safetensors"
    written = run(command, "sheet", bundled, *SHEET_OPTIONS, "--out", tmp_path / "installed.png", cwd=tmp_path,
                  env=clean_env)
    assert written.startswith(f"Wrote {tmp_path / 'installed.png'}")
    assert main(["sheet", str(CHECKOUT / "resources" / "pretrained" / "mnist-mlp-z2.safetensors"), *SHEET_OPTIONS,
                 "--out", str(tmp_path / "checkout.png")]) == 0
    assert (tmp_path / "installed.png").read_bytes() == (tmp_path / "checkout.png").read_bytes()


def test_an_editable_install_reads_the_checkout_resources(work, clean_env, tmp_path):
    python = fresh_environment(tmp_path / "venv")
    pip_install(python, "-e", work / "source", cwd=tmp_path)
    package, resources = run(python, "-c", WHERE, cwd=tmp_path, env=clean_env).split()
    assert Path(package) == work / "source" / "vaestudio" / "__init__.py"
    assert Path(resources) == work / "source" / "resources"
