"""python3 -m harness.soak: the soak from the command line (ci/soak.sh for `make soak`)."""
import sys

from .run import main

sys.exit(main())
