"""What a call adds to the memory of the process: its peak resident set during the call minus the
resident set just before it.

On Linux the kernel keeps the peak (``VmHWM`` in ``/proc/self/status``), and writing ``5`` to
``/proc/self/clear_refs`` resets it to the current resident set, so the peak of exactly one call
is read without sampling. Where that file cannot be written, a thread samples ``VmRSS`` every
millisecond instead (a peak shorter than that can be missed; the result says which way it was
measured).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

MIB = 1024 * 1024


def status_bytes(key: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} in /proc/self/status")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class _Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = status_bytes("VmRSS")
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.001):
            self.peak = max(self.peak, status_bytes("VmRSS"))


def measure_call(fn: Callable[[], Any]) -> Tuple[Any, Dict[str, Any]]:
    """Run ``fn()``; return its value and ``{"seconds", "rss_before", "peak", "extra", "rss_after", "method"}``."""
    rss_before = status_bytes("VmRSS")
    sampler: Optional[_Sampler] = None
    if _reset_peak():
        method = "VmHWM after resetting it (/proc/self/clear_refs)"
    else:
        method = "VmRSS sampled every 1 ms by a thread"
        sampler = _Sampler()
        sampler.start()
    t0 = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - t0
    if sampler is not None:
        sampler.done.set()
        sampler.join()
        peak = max(sampler.peak, status_bytes("VmRSS"))
    else:
        peak = status_bytes("VmHWM")
    return value, {
        "seconds": seconds,
        "rss_before": rss_before,
        "peak": peak,
        "extra": peak - rss_before,
        "rss_after": status_bytes("VmRSS"),
        "method": method,
    }
