"""`python -m artworkflow ...`: the same as the `artworkflow` command."""
import sys

from .cli import main

sys.exit(main())
