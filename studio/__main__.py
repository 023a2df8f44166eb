"""`python -m studio` runs the command line (and, with no sub-command, the app)."""

from studio.cli import main

raise SystemExit(main())
