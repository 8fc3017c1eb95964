"""`python -m core.cli COMMAND ...`: the subcommands without the window."""
import sys

from core.cli.main import main

sys.exit(main())
