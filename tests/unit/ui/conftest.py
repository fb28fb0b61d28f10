"""Pure tests of the web console (ui/pgfleet_console): no browser, no API server, no Postgres."""

import os
import sys

UI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "ui")
if os.path.abspath(UI) not in sys.path:
    sys.path.insert(0, os.path.abspath(UI))
