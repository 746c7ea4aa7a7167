"""``python -m sb3_sacx.zoo COMMAND ...``: rl-zoo3's scripts with SACX registered (see :mod:`sb3_sacx.zoo.cli`)."""

import sys

from sb3_sacx.zoo.cli import main

if __name__ == "__main__":
    sys.exit(main())
