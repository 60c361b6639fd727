import subprocess
import sys


def test_core_imports_without_loading_qt():
    """The whole core, imported in a fresh interpreter, loads no Qt or pyqtgraph module."""
    code = (
        "import sys, pkgutil, importlib, vaestudio.core as core\n"
        "for module in pkgutil.iter_modules(core.__path__):\n"
        "    importlib.import_module('vaestudio.core.' + module.name)\n"
        "import vaestudio.cli.commands\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
