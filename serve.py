#!/usr/bin/env python
"""`python serve.py score|plan|http ARGS` is `creator-recommender score|plan|http ARGS`."""

import sys

from recommender.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
