"""Giving free heap memory back to the system while a step replaces many layers.

A step that keeps every original layer alive (so that a failure can restore it) and builds a
quantized copy of each one allocates float temporaries of a weight's size between long-lived
small tensors (the quantized data). glibc's heap keeps each freed temporary as a hole that the
small result has split, too small for the next temporaries, and the process grows by about one
float weight per layer although it holds only the quantized bytes more. Asking the allocator
to return its free pages (``malloc_trim``) every few MiB keeps the peak at what the step
really holds. Where there is no glibc, this does nothing.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any, Callable, Optional

#: Bytes of float weights processed between two releases.
RELEASE_EVERY_BYTES = 16 * 1024 * 1024


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Optional[Callable[[int], Any]]:
    """glibc's ``malloc_trim``, or ``None`` on a C library without it."""
    try:
        return ctypes.CDLL(None).malloc_trim  # the symbols already loaded in this process
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Return the heap's free pages to the system (glibc only; a no-op elsewhere)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class FreeMemoryReleaser:
    """Counts the bytes a step has processed and releases free heap memory every ``every_bytes``."""

    def __init__(self, every_bytes: int = RELEASE_EVERY_BYTES) -> None:
        self.every_bytes = every_bytes
        self._pending = 0

    def processed(self, nbytes: int) -> None:
        """Record ``nbytes`` of processed data; release free memory when enough has accumulated."""
        self._pending += nbytes
        if self._pending >= self.every_bytes:
            self._pending = 0
            release_free_memory()
