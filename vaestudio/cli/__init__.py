"""The `vaestudio` command: no arguments opens the window; subcommands run headless."""

from vaestudio.cli.main import main

__all__ = ["main"]
