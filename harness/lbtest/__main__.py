"""python3 -m harness.lbtest: see harness/lbtest/__init__.py, or run it with --help."""
import sys

from .cli import main

sys.exit(main())
