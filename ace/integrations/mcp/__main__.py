"""``python -m ace.integrations.mcp``: the same as ``ace-mcp``."""

import sys

from ace.integrations.mcp._cli import main

sys.exit(main())
