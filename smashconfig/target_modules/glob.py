"""Shell-style globs for module paths, translated to regular expressions that never backtrack.

``*`` matches any run of characters (dots included), ``?`` one character, ``[abc]`` /
``[!abc]`` one character from / not from a set (ranges such as ``[0-9]`` allowed). Matching
is case-sensitive and covers the whole path, exactly as :func:`fnmatch.fnmatchcase`.

A glob is a run of fixed-width pieces separated by ``*``: ``A*B*C*D``. Such a glob matches
a text if and only if ``A`` matches at its start, ``D`` at its end, and ``B``, ``C`` can be
placed in order in between; taking the leftmost place for each middle piece never loses a
match. The translation commits to that leftmost place (an atomic group), so the regular
expression engine never backtracks into a piece it has placed: matching costs at most
(length of the text) x (length of the pattern) steps, however many ``*`` the glob has.
"""

from __future__ import annotations

import re
import sys
from typing import List, Optional

GLOB_CHARS = frozenset("*?[")
_GLOB_CHAR = re.compile(r"[*?\[]")
_ATOMIC_GROUPS = sys.version_info >= (3, 11)

STAR: Optional[str] = None
"""The token for ``*`` in :func:`tokens`; every other token is a regex matching one character."""


def tokens(pattern: str, *, lines: bool = False) -> List[Optional[str]]:
    """``pattern`` as :data:`STAR` (runs of ``*`` collapsed) and one-character regex pieces.

    With ``lines``, the pieces never match a newline (for texts of one path per line, without
    ``re.DOTALL``).
    """
    out: List[Optional[str]] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            if not out or out[-1] is not STAR:
                out.append(STAR)
        elif c == "?":
            out.append(".")
        elif c == "[":
            end = _set_end(pattern, i)
            if end < 0:
                out.append(re.escape(c))
            else:
                piece = _set_to_regex(pattern[i:end])
                out.append(piece[:-1] + "\\n]" if lines and piece.startswith("[^") else piece)
                i = end + 1
        else:
            out.append(re.escape(c))
    return out


def literal_text(pattern: str) -> Optional[str]:
    """The one text ``pattern`` matches when it has no wildcard (``[*]`` is a plain ``*``), else ``None``."""
    if _GLOB_CHAR.search(pattern) is None:
        return pattern
    out = []
    for token in tokens(pattern):
        if token is STAR or token == "." or token.startswith("[") or token == "(?!)":
            return None
        out.append(token[1:] if token.startswith("\\") else token)
    return "".join(out)


def glob_to_regex(pattern: str, *, tag: str = "g", lines: bool = False) -> str:
    """The regular expression (no anchors, for ``re.DOTALL``) that matches what ``pattern`` matches.

    Each piece between two ``*`` sits in an atomic group (``tag`` names the emulating groups
    on Pythons before 3.11, so several translations can share one expression). With ``lines``,
    it is for a text of one path per line, compiled without ``re.DOTALL``.
    """
    pieces: List[List[str]] = [[]]
    for token in tokens(pattern, lines=lines):
        if token is STAR:
            pieces.append([])
        else:
            pieces[-1].append(token)
    if len(pieces) == 1:
        return "".join(pieces[0])
    first, middle, last = pieces[0], pieces[1:-1], pieces[-1]
    placed = "".join(_atomic(".*?" + "".join(piece), f"{tag}{k}") for k, piece in enumerate(middle))
    return "".join(first) + placed + ".*" + "".join(last)


def _atomic(body: str, name: str) -> str:
    """``body`` matched once, never re-entered on backtracking."""
    if _ATOMIC_GROUPS:
        return f"(?>{body})"
    return f"(?=(?P<{name}>{body}))(?P={name})"


def _set_end(pattern: str, start: int) -> int:
    """Index of the ``]`` that closes the set opened just before ``start``, or -1."""
    j = start
    if j < len(pattern) and pattern[j] == "!":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    return pattern.find("]", j)


def _set_to_regex(body: str) -> str:
    """A character class for the set ``body`` (the text between ``[`` and ``]``), as :mod:`fnmatch` reads it.

    Ranges run low to high; an empty range (``z-a``) is dropped, joining its neighbours. What is
    left after that decides: nothing never matches, a lone ``!`` matches any character.
    """
    if len(body) == 1 and body != "!":
        return re.escape(body)
    if "-" not in body:
        stuff = body.replace("\\", r"\\")
    else:
        chunks, start = [], 0
        k = 2 if body.startswith("!") else 1
        while True:
            k = body.find("-", k)
            if k < 0:
                break
            chunks.append(body[start:k])
            start, k = k + 1, k + 3
        if body[start:]:
            chunks.append(body[start:])
        else:
            chunks[-1] += "-"
        for k in range(len(chunks) - 1, 0, -1):
            if chunks[k - 1][-1] > chunks[k][0]:
                chunks[k - 1] = chunks[k - 1][:-1] + chunks[k][1:]
                del chunks[k]
        stuff = "-".join(chunk.replace("\\", r"\\").replace("-", r"\-") for chunk in chunks)
    stuff = re.sub(r"([&~|])", r"\\\1", stuff)
    if not stuff:
        return "(?!)"
    if stuff == "!":
        return "."
    if stuff[0] == "!":
        stuff = "^" + stuff[1:]
    elif stuff[0] in "^[":
        stuff = "\\" + stuff
    return f"[{stuff}]"


def literal_runs(pattern: str) -> List[str]:
    """The runs of plain characters in ``pattern``; every path matching ``pattern`` contains each."""
    runs, current = [], []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        end = _set_end(pattern, i) if c == "[" else -1
        if c in "*?" or end >= 0:
            runs.append("".join(current))
            current = []
            if end >= 0:
                i = end + 1
        else:
            current.append(c)
    runs.append("".join(current))
    return [run for run in runs if run]


def required_literal(pattern: str) -> str:
    """The longest run of plain characters that every path matching ``pattern`` contains."""
    return max(literal_runs(pattern), key=len, default="")


def has_wildcards(pattern: str) -> bool:
    """Whether ``pattern`` contains any glob wildcard."""
    return _GLOB_CHAR.search(pattern) is not None


def escape_glob(path: str) -> str:
    """A pattern that matches exactly ``path`` (wildcard characters put in sets)."""
    if _GLOB_CHAR.search(path) is None:
        return path
    return _GLOB_CHAR.sub(lambda found: f"[{found.group()}]", path)
