"""``python -m custseg.app``: serve the dashboard."""

import sys

from custseg.app import launch

sys.exit(launch())
