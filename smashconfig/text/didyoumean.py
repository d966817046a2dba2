"""Did-you-mean suggestions for misspelled keys, algorithm names and values."""

from __future__ import annotations

import difflib
from typing import Iterable, List


def closest(word: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.6) -> List[str]:
    """The candidates nearest to ``word``: a case-insensitive exact match first, then the
    prefixed forms of ``word`` (``r`` → ``lora_r``), then the closest by spelling."""
    pool = list(dict.fromkeys(candidates))
    folded = [c for c in pool if c.lower() == word.lower() and c != word]
    prefixed = [c for c in pool if c.endswith("_" + word)] if word else []
    near = difflib.get_close_matches(word, pool, n=n, cutoff=cutoff)
    return list(dict.fromkeys(folded + prefixed + near))[:n]


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``" Did you mean 'x'?"`` (leading space), or ``""`` when nothing is close."""
    near = closest(word, candidates)
    if not near:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in near) + "?"
