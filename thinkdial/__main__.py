"""`python -m thinkdial ...`: the same entry as the `thinkdial` console script."""

import sys

from thinkdial.cli import main

sys.exit(main())
