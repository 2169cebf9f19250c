"""``python -m retailpulse`` runs the command line."""

import sys

from retailpulse.cli import main

sys.exit(main())
