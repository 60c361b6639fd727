"""The freedesktop entry and the AppStream metadata: valid, and consistent with the package."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from vaestudio import __version__

CHECKOUT = Path(__file__).resolve().parents[2]
PACKAGING = CHECKOUT / "packaging"
DESKTOP = PACKAGING / "vaestudio.desktop"
METAINFO = PACKAGING / "io.github.vaestudio.VAEStudio.metainfo.xml"


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def validate(*command: str | Path) -> str:
    if shutil.which(str(command[0])) is None:
        pytest.skip(f"{command[0]} is not installed (Debian: apt-get install desktop-file-utils appstream)")
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_the_desktop_entry_is_valid():
    report = validate("desktop-file-validate", DESKTOP)
    assert "error" not in report and "warning" not in report, report


def test_the_appstream_metadata_is_valid():
    validate("appstreamcli", "validate", "--no-net", "--strict", METAINFO)


def test_entry_and_metadata_match_the_package():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    entry = desktop_entry()
    scripts = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entry["Exec"].split()[0] in scripts
    assert (CHECKOUT / "resources" / "icons" / f"{entry['Icon']}.svg").is_file()
    component = ElementTree.parse(METAINFO).getroot()
    assert component.findtext("launchable") == DESKTOP.name
    assert component.findtext("provides/binary") == entry["Exec"].split()[0]
    assert component.find("releases/release").get("version") == __version__
