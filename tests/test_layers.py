"""The layers hold: cli above gui above core, inside the core latent > training > models > data, no Qt in the core.

The contracts live in pyproject.toml ([tool.importlinter]); import-linter reads every import
statement, the ones inside functions included, so a lazy import that breaks a layer fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"

def test_the_import_contracts_are_kept():
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", LINT], cwd=ROOT, env=environment, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"an import breaks a layer:\n{result.stdout}\n{result.stderr}"
    assert "3 kept, 0 broken" in result.stdout
