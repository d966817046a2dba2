"""Giving free heap memory back to the system when a step has left too much of it behind.

A step that keeps every original layer alive (so that a failure can restore it) makes float
temporaries of a weight's size between long-lived small objects. Even with its results moved
into reserved room (see :mod:`smashconfig.apply.reserved`), glibc's heap keeps some freed
temporaries as holes too small for the next ones, and the process grows a little per layer.
Asking the allocator to return its free pages (``malloc_trim``) costs time (it walks the heap,
and the pages it returns are faulted in again when reused), so it is asked only when the
resident set has grown more than ``slack_bytes`` beyond what the step is known to keep. Where
there is no glibc or no ``/proc/self/statm``, this does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import os
from typing import Any, Callable, Optional

SLACK_BYTES = 64 * 1024 * 1024
"""Growth beyond the bytes a step keeps that is tolerated before free memory is given back."""
CHECK_EVERY_BYTES = 4 * 1024 * 1024
"""Bytes of weights processed between two looks at the resident set."""


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


def resident_bytes() -> Optional[int]:
    """The process's resident set in bytes, or ``None`` where ``/proc/self/statm`` cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class FreeMemoryReleaser:
    """Watches a step's growth and gives free heap memory back when it exceeds what the step keeps
    by more than ``slack_bytes`` (after a release, by that much more than the release left)."""

    def __init__(self, slack_bytes: int = SLACK_BYTES, check_every_bytes: int = CHECK_EVERY_BYTES) -> None:
        self.slack_bytes, self.check_every_bytes = slack_bytes, check_every_bytes
        self.releases = 0
        self._start = resident_bytes() if _malloc_trim() is not None else None
        self._limit = slack_bytes
        self._kept = self._pending = 0

    def processed(self, nbytes: int, kept: int = 0) -> None:
        """Record ``nbytes`` of weights processed and ``kept`` bytes of results the step keeps."""
        self._kept += kept
        self._pending += nbytes
        if self._start is None or self._pending < self.check_every_bytes:
            return
        self._pending = 0
        resident = resident_bytes()
        if resident is None or resident - self._start - self._kept <= self._limit:
            return
        release_free_memory()
        self.releases += 1
        after = resident_bytes()
        if after is not None:
            self._limit = max(self.slack_bytes, after - self._start - self._kept + self.slack_bytes)
