"""``python -m downstream_demo``: fit, print and check the reload (see ``classify``)."""

import sys

from .classify import main

sys.exit(main())
