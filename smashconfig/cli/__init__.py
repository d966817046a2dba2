"""The command line: ``smashconfig`` (also ``python -m smashconfig``); the top floor, above apply."""

from smashconfig.cli.entry import main

__all__ = ["main"]
