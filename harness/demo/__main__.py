"""`python3 -m harness.demo`: see run.py."""
import sys

from .run import main

sys.exit(main())
