"""``python -m remoterepl.embedded``: the same as ``remoterepl-demo``."""

from remoterepl.embedded.demo import main

raise SystemExit(main())
