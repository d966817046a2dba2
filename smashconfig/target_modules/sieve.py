"""Thousands of wildcard patterns against many paths: each pattern is tried only where it can match.

Every path that a pattern matches contains each literal piece of the pattern (``layers.7`` in
``*layers.7*``). All paths are joined into one text, searched once per pattern for its longest
piece; the pattern is then matched, with its own backtrack-free regex, only against the paths
holding that piece. A pattern one of whose pieces occurs nowhere is never tried at all.
:class:`PatternGroup` holds one ordered list of patterns matched that way (plain ones looked up).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from smashconfig.target_modules.glob import glob_to_regex, literal_runs, literal_text

Indexed = Sequence[Tuple[int, str]]
Hits = List[Optional[int]]
_CHUNK = 200


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




def _index(match: "re.Match[str]") -> int:
    return int(match.lastgroup[1:])  # type: ignore[index]


class PatternGroup:
    """One ordered list of patterns: its literal ones by text, its wildcard ones (first of each)."""

    def __init__(self, patterns: Sequence[str], *, lookup_literals: bool = True) -> None:
        self.patterns = tuple(patterns)
        self.literal: Dict[str, int] = {}
        wild: Dict[str, int] = {}
        for i, pattern in enumerate(self.patterns):
            text = literal_text(pattern) if lookup_literals else None
            if text is None:
                wild.setdefault(pattern, i)
                continue
            self.literal.setdefault(text, i)
            if text.endswith("."):  # matches the path without its dot too
                key = text[:-1]
                self.literal[key] = min(i, self.literal.get(key, i))
        self.wild = [(i, p) for p, i in wild.items()]
        self.canonical = [
            wild[p] if p in wild else self.literal[literal_text(p)] for p in self.patterns  # type: ignore[index]
        ]
        """For each pattern, the first pattern that matches exactly what it matches (itself, or an earlier copy)."""
        self._chunks: Optional[List[Callable]] = None

    def chunks(self) -> List[Callable]:
        """Full-match functions of the wildcard patterns, a few hundred per regex, in order."""
        if self._chunks is None:
            self._chunks = [regex(self.wild[k : k + _CHUNK]).fullmatch for k in range(0, len(self.wild), _CHUNK)]
        return self._chunks

    def regex_first(self, path: str) -> Optional[int]:
        """The first wildcard pattern matching ``path``, by regexes."""
        return self._first_in(self.chunks(), path)

    def regex_hits(self, paths: Sequence[str]) -> Hits:
        """:meth:`regex_first` of each path; a pattern is tried only on paths holding its literal pieces."""
        if not self.wild:
            return [None] * len(paths)
        anywhere = [(i, p) for i, p in self.wild if not literal_runs(p)]
        chunks = [regex(anywhere[k : k + _CHUNK]).fullmatch for k in range(0, len(anywhere), _CHUNK)]
        return first_hits(self.wild, paths, lambda path: self._first_in(chunks, path))

    @staticmethod
    def _first_in(chunks: List[Callable], path: str) -> Optional[int]:
        subject = path + "."
        for fullmatch in chunks:
            found = fullmatch(subject)
            if found is not None:
                return _index(found)
        return None
