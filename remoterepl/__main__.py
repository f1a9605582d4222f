"""``python -m remoterepl``."""

from remoterepl.cli import main

raise SystemExit(main())
