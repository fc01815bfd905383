#!/usr/bin/env python
"""`python train.py ARGS` is `creator-recommender train ARGS` (see `--help`)."""

import sys

from recommender.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
