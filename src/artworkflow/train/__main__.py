"""`python -m artworkflow.train ...` (also under torchrun): the same options as `artworkflow train`."""
import sys

from ..cli import main

sys.exit(main(["train", *sys.argv[1:]]))
