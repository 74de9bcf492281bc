"""``python -m ace.local_model pull|list|serve``: same as ``ace model ...``."""

from ace.local_model._cli import main

raise SystemExit(main())
