"""`python -m igrt.cli` runs the command line, as the `igrt` script does."""

import sys

from igrt.cli.main import main

sys.exit(main())
