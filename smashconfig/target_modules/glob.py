"""Shell-style globs for module paths, translated to regular expressions.

``*`` matches any run of characters (dots included), ``?`` one character, ``[abc]`` /
``[!abc]`` one character from / not from a set (ranges such as ``[0-9]`` allowed). Matching
is case-sensitive and covers the whole path, exactly as :func:`fnmatch.fnmatchcase`.
"""

from __future__ import annotations

import re

GLOB_CHARS = frozenset("*?[")
_GLOB_CHAR = re.compile(r"[*?\[]")


def glob_to_regex(pattern: str) -> str:
    """The regular expression (no anchors) that matches what ``pattern`` matches."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            if not out or out[-1] != ".*":
                out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            end = _set_end(pattern, i)
            if end < 0:
                out.append(re.escape(c))
            else:
                out.append(_set_to_regex(pattern[i:end]))
                i = end + 1
        else:
            out.append(re.escape(c))
    return "".join(out)


def _set_end(pattern: str, start: int) -> int:
    """Index of the ``]`` that closes the set opened just before ``start``, or -1."""
    j = start
    if j < len(pattern) and pattern[j] == "!":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 1
    return j if j < len(pattern) else -1


def _set_to_regex(body: str) -> str:
    """A character class for the set ``body`` (the text between ``[`` and ``]``)."""
    negate = body.startswith("!")
    if negate:
        body = body[1:]
    ranges = []
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            lo, hi = body[k], body[k + 2]
            if lo <= hi:
                ranges.append(f"{_class_char(lo)}-{_class_char(hi)}")
            k += 3
        else:
            ranges.append(_class_char(body[k]))
            k += 1
    if not ranges:
        return "." if negate else "(?!)"
    return "[" + ("^" if negate else "") + "".join(ranges) + "]"


def _class_char(c: str) -> str:
    return "\\" + c if c in "\\^-[]&~|" else c


def required_literal(pattern: str) -> str:
    """The longest run of plain characters that every path matching ``pattern`` contains."""
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
    return max(runs, key=len)


def has_wildcards(pattern: str) -> bool:
    """Whether ``pattern`` contains any glob wildcard."""
    return _GLOB_CHAR.search(pattern) is not None


def escape_glob(path: str) -> str:
    """A pattern that matches exactly ``path`` (wildcard characters put in sets)."""
    if _GLOB_CHAR.search(path) is None:
        return path
    return _GLOB_CHAR.sub(lambda found: f"[{found.group()}]", path)
