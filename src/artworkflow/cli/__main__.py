"""`python -m artworkflow.cli ...`: the same as the `artworkflow` command."""
import sys

from .entry import main

sys.exit(main())
