"""`python -m fieldcrm` runs the command line (and, with no command, the app)."""

from fieldcrm.cli import main

raise SystemExit(main())
