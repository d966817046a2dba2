"""A list of glob patterns compiled once into one regular expression.

A pattern matches a module when it matches the module's path, or the path followed by a dot
(so ``attention.*`` selects ``attention`` itself too). Both cases are one regex run: the
subject is ``path + "."`` and the compiled expression ends in ``\\.?``.
"""

from __future__ import annotations

import re
from typing import Callable, List, Optional, Sequence

from smashconfig.target_modules.glob import glob_to_regex


def _compile(bodies: Sequence[str]) -> "re.Pattern[str]":
    alternatives = "|".join(f"(?P<p{i}>{body})" for i, body in enumerate(bodies))
    return re.compile(f"(?:{alternatives})\\.?", re.DOTALL)


class PatternSet:
    """Patterns in order; :meth:`first` says which one matches a path first."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)
        self._bodies = [glob_to_regex(p) for p in self.patterns]
        self._regex = _compile(self._bodies) if self.patterns else None
        self._singles: List[Optional["re.Pattern[str]"]] = [None] * len(self.patterns)

    def __len__(self) -> int:
        return len(self.patterns)

    def fullmatch(self) -> Callable[[str], Optional["re.Match[str]"]]:
        """The raw matcher for hot loops: call it on ``path + "."``; ``m.lastgroup`` is ``"p<index>"``."""
        if self._regex is None:
            return lambda subject: None
        return self._regex.fullmatch

    def first(self, path: str) -> Optional[int]:
        """Index of the first pattern that matches ``path``, or ``None``."""
        m = self.fullmatch()(path + ".")
        return None if m is None else int(m.lastgroup[1:])  # type: ignore[index]

    def matches(self, i: int, path: str) -> bool:
        """Whether pattern ``i`` matches ``path``."""
        return self.single(i)(path + ".") is not None

    def single(self, i: int) -> Callable[[str], Optional["re.Match[str]"]]:
        """The raw matcher of pattern ``i`` alone (call it on ``path + "."``)."""
        compiled = self._singles[i]
        if compiled is None:
            compiled = self._singles[i] = _compile([self._bodies[i]])
        return compiled.fullmatch


def index_of(match: "re.Match[str]") -> int:
    """The pattern index a :meth:`PatternSet.fullmatch` match came from."""
    return int(match.lastgroup[1:])  # type: ignore[index]
