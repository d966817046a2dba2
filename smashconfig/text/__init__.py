"""Plain-text layout helpers for tables and lists."""

from __future__ import annotations

from typing import List

EXAMPLES = 3


def table(rows: List[List[str]]) -> List[str]:
    """Rows as left-aligned columns."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def examples(items: List[str], n: int = EXAMPLES) -> str:
    """The first ``n`` items, then ``+k more``."""
    shown = ", ".join(items[:n])
    return shown + (f", +{len(items) - n} more" if len(items) > n else "")


def plural(n: int, word: str) -> str:
    """``1 layer``, ``2 layers``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def ranges(numbers: List[int]) -> str:
    """``[0-3,7,9-11]`` for sorted block numbers."""
    numbers = sorted(numbers)
    spans = []
    start = prev = numbers[0]
    for n in numbers[1:] + [None]:  # type: ignore[list-item]
        if n is not None and n == prev + 1:
            prev = n
            continue
        spans.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return "[" + ",".join(spans) + "]"
