"""Entry point of the desktop build: the `studio` command line, and the app with no sub-command.

freeze_support() comes first so that worker processes started by a frozen build run their task
instead of a second copy of the app.
"""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from studio.cli.main import main

    raise SystemExit(main())
