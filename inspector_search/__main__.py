"""``python -m inspector_search`` runs the command line."""

import sys

from .cli import main

sys.exit(main())
