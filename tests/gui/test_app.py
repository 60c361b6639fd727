"""Start-up: the icon, `vaestudio MODEL_FILE`, the first model shown, and the check that a window can open at all."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from vaestudio.cli.main import main as vaestudio_main
from vaestudio.core.data.datasets import load_dataset
from vaestudio.core.models.model_files import save_model
from vaestudio.core.models.networks import ModelConfig, build_model
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.trainer import Trainer
from vaestudio.gui import app
from vaestudio.gui.widgets.dialogs import error_reporter

REPOSITORY = Path(__file__).resolve().parents[2]
X11_DESKTOP = {"DISPLAY": ":0"}


def write_model(path: Path, latent_dim: int, class_names: list[str] | None = None) -> Path:
    torch.manual_seed(0)
    config = TrainingConfig(model=ModelConfig("mlp", latent_dim, 16))
    save_model(path, build_model(config.model), config, epoch=1, class_names=class_names or list("abc"))
    return path


@pytest.fixture
def bundled(tmp_path, monkeypatch) -> Path:
    """A small stand-in for the bundled model (latent 2)."""
    path = write_model(tmp_path / "bundled.safetensors", 2)
    monkeypatch.setattr(app, "default_bundled_model", lambda: path)
    return path


def test_the_icon_is_drawn_from_the_resources():
    icon = app.application_icon()
    assert not icon.isNull()
    assert not icon.pixmap(64, 64).isNull() and icon.pixmap(64, 64).toImage().pixelColor(32, 32).alpha() > 0


def test_the_application_and_the_window_carry_the_icon(qapp, qtbot, monkeypatch):
    qapp.setWindowIcon(QIcon())
    app.configure_application(qapp)
    assert not QApplication.windowIcon().isNull()
    qapp.setWindowIcon(QIcon())  # a window without its own icon would show this null one
    monkeypatch.setattr(app, "default_bundled_model", lambda: None)
    window = app.create_main_window()
    qtbot.addWidget(window)
    try:
        assert not window.windowIcon().isNull()
    finally:
        app.configure_application(qapp)


# vaestudio MODEL_FILE


def test_the_model_file_given_is_shown_instead_of_the_bundled_one(qtbot, tmp_path, bundled) -> None:
    path = write_model(tmp_path / "mine.safetensors", 3)
    window = app.create_main_window(model_path=str(path))
    qtbot.addWidget(window)
    assert window.session.origin == "file" and window.session.model.config.latent_dim == 3
    assert window.tabs.currentIndex() == window.workspace.map_tab
    assert f"Opened {path}" in window.statusBar().currentMessage()


@pytest.mark.parametrize("content", [None, b"not a model"])
def test_a_bad_model_file_is_a_dialog_and_the_bundled_model_shows(qtbot, tmp_path, bundled, content) -> None:
    path = tmp_path / "broken.safetensors"
    if content is not None:
        path.write_bytes(content)
    with qtbot.waitSignal(error_reporter.shown, timeout=5000) as shown:
        window = app.create_main_window(model_path=str(path))
        qtbot.addWidget(window)
        window.show()
    title, message = shown.args
    assert title == "The model file could not be opened."
    assert str(path) in message and message.endswith("VAE Studio shows its bundled model instead.")
    assert window.session.origin == "bundled" and window.session.model.config.latent_dim == 2


def test_the_command_line_passes_the_model_file_to_the_window(tmp_path, monkeypatch) -> None:
    opened = []
    monkeypatch.setattr(app, "run_app", lambda argv=None, model_path=None, startup_check_since=None:
                        opened.append(model_path) or 0)
    path = write_model(tmp_path / "model.safetensors", 2)
    assert vaestudio_main([str(path)]) == 0
    assert vaestudio_main(["missing.safetensors"]) == 0  # the window says it is missing, over the bundled model
    assert vaestudio_main([]) == 0
    monkeypatch.chdir(tmp_path)
    assert vaestudio_main(["model.safetensors"]) == 0
    assert opened == [str(path), "missing.safetensors", None, "model.safetensors"]


@pytest.mark.parametrize("argv, message", [
    (["trian"], "invalid choice: 'trian'"),
    (["model.safetensors", "--epochs", "3"], "unrecognized arguments: --epochs 3"),
])
def test_what_is_neither_a_command_nor_a_model_file_is_refused(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        vaestudio_main(argv)
    assert exited.value.code == 2 and message in capsys.readouterr().err


def test_the_desktop_entry_passes_the_file_it_opens() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(REPOSITORY / "packaging" / "vaestudio.desktop", encoding="utf-8")
    assert entry["Desktop Entry"]["Exec"] == "vaestudio %f"


def test_the_legend_names_the_classes_of_a_folder_with_classes_txt(qtbot, tmp_path, bundled, tiny_dataset) -> None:
    folder = Path(tiny_dataset.removeprefix("idx:"))  # four classes of squares
    names = ["top left", "top right", "bottom left", "bottom right"]
    (folder / "classes.txt").write_text("\n".join(names) + "\n")
    config = TrainingConfig(dataset=f"idx:{folder}", model=ModelConfig("mlp", 2, 16), epochs=1, batch_size=64,
                            device="cpu")
    trainer = Trainer(config, load_dataset(config.dataset))
    for _ in trainer.run():
        pass
    path = tmp_path / "shapes.safetensors"
    save_model(path, trainer.model, config, epoch=1, history=trainer.history, class_names=trainer.class_names)

    window = app.create_main_window(model_path=str(path))
    qtbot.addWidget(window)
    window.show()
    explorer = window.workspace.explorer
    qtbot.waitUntil(lambda: explorer.result is not None, timeout=20_000)
    assert [label.text for _, label in explorer.latent_map.legend.items] == names


# Can a window open? (Qt's xcb plugin aborts the process when a library it links is missing.)


def test_missing_xcb_libraries_give_one_install_line() -> None:
    missing = {"libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libgthread-2.0.so.0", "libglib-2.0.so.0"}
    with pytest.raises(app.DisplayUnavailableError) as caught:
        app.check_display(X11_DESKTOP, "linux", loads=lambda name: name not in missing)
    message = str(caught.value)
    install_lines = [line.strip() for line in message.splitlines() if "apt-get install" in line]
    assert install_lines == ["sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libglib2.0-0"]
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in message
    app.check_display(X11_DESKTOP, "linux", loads=lambda name: True)


def test_the_window_is_not_started_when_a_library_is_missing(monkeypatch, capsys) -> None:
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(app, "library_loads", lambda name: name != "libxcb-cursor.so.0")
    monkeypatch.setattr(app, "create_main_window", lambda *a, **k: pytest.fail("the window was built"))
    assert vaestudio_main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vaestudio: error: the window cannot open") and "sudo apt-get install libxcb-cursor0\n" in err


@pytest.mark.parametrize("environ, platform, checked", [
    ({"DISPLAY": ":0"}, "linux", True),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, "linux", True),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux", False),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland;xcb"}, "linux", False),
    ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
    ({"DISPLAY": ":0"}, "darwin", False),
    ({"DISPLAY": ":0"}, "win32", False),
])
def test_libraries_are_checked_only_where_qt_will_use_xcb(environ, platform, checked) -> None:
    probed = []
    app.check_display(environ, platform, loads=lambda name: probed.append(name) or True)
    assert bool(probed) == checked


def test_no_display_is_said_plainly() -> None:
    with pytest.raises(app.DisplayUnavailableError, match=r"no display to open the window on \(DISPLAY is not set\)"):
        app.check_display({}, "linux", loads=lambda name: True)
    app.check_display({"QT_QPA_PLATFORM": "offscreen"}, "linux", loads=lambda name: pytest.fail("probed"))


def _needed_libraries(path: Path) -> set[str]:
    output = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return {line.split("[", 1)[1].split("]", 1)[0] for line in output.splitlines() if "(NEEDED)" in line}


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("readelf") is None,
                    reason="reads the Linux xcb plugin's ELF headers with readelf")
def test_the_table_covers_what_the_installed_xcb_plugin_links() -> None:
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    plugin, integration = qt / "plugins" / "platforms" / "libqxcb.so", qt / "lib" / "libQt6XcbQpa.so.6"
    if not plugin.is_file() or not integration.is_file():
        pytest.skip("this PySide6 has no xcb plugin")
    needed = _needed_libraries(plugin) | _needed_libraries(integration)
    system = {name for name in needed if not name.startswith("libQt6")} - {
        "libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libpthread.so.0", "libdl.so.2", "librt.so.1"}
    assert system <= set(app.XCB_PLUGIN_LIBRARIES), system - set(app.XCB_PLUGIN_LIBRARIES)


def test_here_a_missing_library_ends_with_the_install_line_not_an_abort() -> None:
    """On a machine that really lacks one of the libraries, `vaestudio` exits 2 with the message (Qt would abort: 134)."""
    environ = {key: value for key, value in os.environ.items() if key not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    environ["DISPLAY"] = ":99"
    try:
        app.check_display(environ)
    except app.DisplayUnavailableError:
        pass
    else:
        pytest.skip("every library of Qt's xcb plugin is installed here")
    environ["PYTHONPATH"] = str(REPOSITORY)
    result = subprocess.run([sys.executable, "-m", "vaestudio.cli.main"], env=environ, capture_output=True, check=False,
                            text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert len([line for line in result.stderr.splitlines() if "sudo apt-get install" in line]) == 1


def test_the_readme_installs_every_library_the_check_asks_for() -> None:
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    install = next(line for line in readme.splitlines() if line.startswith("sudo apt-get install "))
    assert install.split()[3:] == list(dict.fromkeys(app.XCB_PLUGIN_LIBRARIES.values()))
