"""The `fledge` command: the window, or a subcommand run by core without importing Qt."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from core.cli.main import main as run_command, wants_window

    args = sys.argv[1:] if argv is None else argv
    if not wants_window(args):
        return run_command(argv)            # argv None: as the program itself (core.cli.main.main)
    try:
        from gui.app import main as open_window
    except ImportError as exc:
        print(f"fledge: the desktop window could not start ({exc}). Reinstall Fledge with "
              f"'pip install -e .' or use the subcommands (fledge --help).", file=sys.stderr)
        return 1
    return open_window(args)


if __name__ == "__main__":
    sys.exit(main())
