"""Thousands of wildcard patterns against many paths: each pattern is tried only where it can match.

Every path that a pattern matches contains each literal piece of the pattern (``layers.7`` in
``*layers.7*``). All paths are joined into one text, searched once per pattern for its longest
piece; the pattern is then matched, with its own backtrack-free regex, only against the paths
holding that piece. A pattern one of whose pieces occurs nowhere is never tried at all.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from smashconfig.target_modules.glob import glob_to_regex, literal_runs

Indexed = Sequence[Tuple[int, str]]


def regex(indexed: Indexed, *, lines: bool = False) -> "re.Pattern[str]":
    """One expression for the patterns ``indexed`` ((index, pattern) pairs), each a named group ``p<index>``.

    Called on ``path + "."``; with ``lines``, searched over a text of one ``path + "."`` per line.
    """
    body = "|".join(f"(?P<p{i}>{glob_to_regex(p, tag=f'a{i}_', lines=lines)})" for i, p in indexed)
    if lines:
        return re.compile(f"^(?:{body})\\.?$", re.MULTILINE)
    return re.compile(f"(?:{body})\\.?", re.DOTALL)


def first_hits(indexed: Indexed, paths: Sequence[str], everywhere: Callable[[str], Optional[int]]) -> List[Optional[int]]:
    """For each path, the smallest index of a pattern in ``indexed`` that matches it.

    ``everywhere(path)`` gives the first match among the patterns with no literal piece, which
    this function leaves to it.
    """
    text = ".\n".join(paths) + "."
    starts = list(accumulate([0] + [len(path) + 2 for path in paths[:-1]]))
    n = len(paths)
    candidates: Dict[int, List[Tuple[int, str]]] = {}
    for i, pattern in indexed:
        runs = literal_runs(pattern)
        if not runs or not all(run in text for run in runs):
            continue
        run = max(runs, key=len)
        found = text.find(run)
        while found >= 0:
            line = bisect_right(starts, found) - 1
            candidates.setdefault(line, []).append((i, pattern))
            if line + 1 >= n:
                break
            found = text.find(run, starts[line + 1])
    compiled: Dict[int, Callable] = {}
    out: List[Optional[int]] = []
    for line, path in enumerate(paths):
        best = everywhere(path)
        subject = path + "."
        for i, pattern in candidates.get(line, ()):
            if best is not None and i > best:
                break
            match = compiled.get(i)
            if match is None:
                match = compiled[i] = regex([(i, pattern)]).fullmatch
            if match(subject) is not None:
                best = i
                break
        out.append(best)
    return out


def matched_by_text(indexed: Indexed, paths: Sequence[str]) -> List[int]:
    """Which patterns match some path, each searched over all paths at once (one per line)."""
    text = ".\n".join(paths) + "."
    if text.count("\n") != len(paths) - 1:  # a path holding a newline: one path at a time
        return [i for i, p in indexed if any(regex([(i, p)]).fullmatch(path + ".") for path in paths)]
    found = []
    for i, pattern in indexed:
        if all(run in text for run in literal_runs(pattern)) and regex([(i, pattern)], lines=True).search(text):
            found.append(i)
    return found
