"""`python -m studio` runs the command line (and, with no sub-command, the app)."""

from studio.cli.main import main

raise SystemExit(main())
