"""The facts `vaestudio --version` and Help > About show, from one core function."""

import sys
import types
from importlib.metadata import version

import torch

from vaestudio import __version__
from vaestudio.core import about


def test_facts_name_versions_device_and_user_data(isolated_home):
    facts = dict(about.about_facts(device="CUDA (test GPU)"))
    assert list(facts) == ["VAE Studio", "torch", "Qt", "pyqtgraph", "Device", "User data"]
    assert facts["VAE Studio"] == __version__ and facts["torch"].startswith(torch.__version__)
    assert facts["Qt"] == f"PySide6 {version('PySide6-Essentials')}"
    assert facts["pyqtgraph"] == version("pyqtgraph")
    assert facts["Device"] == "CUDA (test GPU)" and facts["User data"] == str(isolated_home)


def test_the_window_passes_its_qt_version():
    assert dict(about.about_facts(qt="6.11.3 (PySide6 6.11.3)"))["Qt"] == "6.11.3 (PySide6 6.11.3)"


def test_one_line():
    facts = [("VAE Studio", "1.2.3"), ("torch", "2.5.0"), ("Qt", "PySide6 6.8.0"), ("pyqtgraph", "0.13.7"),
             ("Device", "CPU"), ("User data", "/home/ada/.local/share/vaestudio")]
    assert about.about_line(facts) == ("vaestudio 1.2.3; torch: 2.5.0; Qt: PySide6 6.8.0; pyqtgraph: 0.13.7; "
                                       "Device: CPU; User data: /home/ada/.local/share/vaestudio")


def test_library_version_prefers_the_loaded_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyqtgraph", types.SimpleNamespace(__version__="9.9.9"))
    assert about.library_version("pyqtgraph") == "9.9.9"
    assert about.library_version("no_such_library_here") == about.NOT_INSTALLED
