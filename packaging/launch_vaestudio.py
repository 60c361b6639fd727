"""The frozen build's entry point (packaging/vaestudio.spec): the same as the `vaestudio` command."""

import sys

from vaestudio.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
