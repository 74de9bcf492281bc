"""``python -m ace.cli``."""

from ace.cli import main

raise SystemExit(main())
