"""`python -m bot.widget`: serves the widget and the demo page (see server.py)."""

import sys

from bot.widget.server import main

sys.exit(main())
