"""Where the CLI's results go: standard output, one line at a time."""

from __future__ import annotations

import sys


def out(text: str = "") -> None:
    """Write ``text`` and a newline to standard output."""
    sys.stdout.write(text + "\n")
