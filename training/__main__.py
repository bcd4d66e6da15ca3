"""``python -m polymix.training`` = ``polymix train`` (and the entry point for ``accelerate launch -m``)."""

import sys

from polymix.training.cli import main

sys.exit(main())
