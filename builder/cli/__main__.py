"""`python -m builder.cli` runs the same CLI as the `builder` script."""

import sys

from builder.cli import main

sys.exit(main())
