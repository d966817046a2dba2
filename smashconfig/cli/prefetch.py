"""Importing the model's libraries in the background while the config is read and checked.

Reading a config imports ConfigSpace (which imports scipy); loading a model imports torch and
transformers. Each takes a good part of a second or more, and neither needs the other, so the
command line starts the second in a thread before doing the first. Nothing is skipped: the config
is still checked in full before any model is loaded, and an import that fails in the thread is
simply done (and reported) again where the model is loaded.
"""

from __future__ import annotations

import importlib
import threading
from typing import Sequence

MODEL_LIBRARIES = ("torch", "transformers")


def prefetch_imports(names: Sequence[str] = MODEL_LIBRARIES) -> threading.Thread:
    """Start importing ``names`` in a daemon thread; returns the thread (joining it is optional)."""

    def run() -> None:
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # not installed or broken: the real import reports it where it is needed
                return

    thread = threading.Thread(target=run, name="smashconfig-prefetch", daemon=True)
    thread.start()
    return thread
