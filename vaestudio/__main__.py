"""`python -m vaestudio`: the same as the `vaestudio` command."""

import sys

from vaestudio.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
