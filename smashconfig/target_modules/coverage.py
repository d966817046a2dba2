"""Coverage: how many of a model's parameters (and bytes) a step acts on, and where the rest sits.

Each parameter is counted once (tied and shared weights too), at the module that holds it
directly. The *body* is every parameter outside the input embeddings (``Embedding`` layers) and
the output head: the part a quantizer is expected to shrink.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Set

from smashconfig.target_modules.census import Census
from smashconfig.target_modules.tree import ModuleIndex

LOW_COVERAGE = 0.5
"""A step acting on less than this share of the body's parameters warns."""
UNTOUCHED_SHOWN = 5


@dataclass
class Coverage:
    """Parameter counts (and bytes) a step acts on, out of the whole model and out of its body."""

    params: int
    bytes: int
    total_params: int
    total_bytes: int
    body_params: int
    body_bytes: int
    acted_body_params: int
    untouched: List[Dict[str, Any]] = field(default_factory=list)
    """The largest untouched parts of the body, by module type: type, modules, params, bytes, why."""

    @property
    def share(self) -> float:
        """Share of all parameters acted on."""
        return self.params / self.total_params if self.total_params else 0.0

    @property
    def body_share(self) -> float:
        """Share of the body's parameters acted on (1.0 for a model with no body)."""
        return self.acted_body_params / self.body_params if self.body_params else 1.0

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Coverage":
        """The coverage ``to_dict`` wrote (extra keys, such as a plan's ``warning``, ignored)."""
        names = ("params", "bytes", "total_params", "total_bytes", "body_params", "body_bytes", "acted_body_params")
        return cls(*(int(data[name]) for name in names), untouched=list(data.get("untouched", [])))

    def to_dict(self) -> Dict[str, Any]:
        return {
            "params": self.params,
            "bytes": self.bytes,
            "total_params": self.total_params,
            "total_bytes": self.total_bytes,
            "body_params": self.body_params,
            "body_bytes": self.body_bytes,
            "acted_body_params": self.acted_body_params,
            "untouched": [dict(u) for u in self.untouched],
        }


def measure_coverage(
    census: Census,
    index: ModuleIndex,
    acted: List[int],
    heads: Set[str],
    why_untouched: Callable[[int], Optional[str]],
) -> Coverage:
    """Coverage of the modules at ``acted``; ``why_untouched(i)`` says why module ``i`` was left alone."""
    acted_set = set(acted)
    paths, modules = index.paths, index.modules
    outside_roots = set(heads) | set(census.embedding_paths)
    outside = tuple(path + "." for path in outside_roots)
    totals = [0] * 7  # acted, acted bytes, total, total bytes, body, body bytes, acted body
    untouched: Dict[str, Dict[str, Any]] = {}
    for i, count, nbytes in zip(census.holders, census.counts, census.sizes):
        is_acted = i in acted_set  # acted-on modules are leaves: what they hold is theirs
        path = paths[i]
        in_body = path not in outside_roots and not path.startswith(outside)
        _add(totals, count, nbytes, is_acted, in_body)
        if in_body and not is_acted:
            kind = type(modules[i]).__name__
            entry = untouched.get(kind)
            if entry is None:
                untouched[kind] = entry = {"type": kind, "modules": 0, "params": 0, "bytes": 0, "why": why_untouched(i)}
            entry["modules"] += 1
            entry["params"] += count
            entry["bytes"] += nbytes
    largest = sorted(untouched.values(), key=lambda e: -e["params"])[:UNTOUCHED_SHOWN]
    return Coverage(*totals, untouched=largest)


def _add(totals: List[int], count: int, nbytes: int, is_acted: bool, in_body: bool) -> None:
    totals[2] += count
    totals[3] += nbytes
    if is_acted:
        totals[0] += count
        totals[1] += nbytes
    if in_body:
        totals[4] += count
        totals[5] += nbytes
        if is_acted:
            totals[6] += count


def describe_coverage(coverage: Coverage, algorithm: str) -> str:
    """One line: what share the step acts on."""
    return (
        f"{algorithm} acts on {_count(coverage.params)} of {_count(coverage.total_params)} parameters "
        f"({coverage.share:.1%}; {coverage.body_share:.1%} of the {_count(coverage.body_params)} outside the "
        f"embeddings and the head), {_size(coverage.bytes)} of {_size(coverage.total_bytes)}"
    )


def low_coverage_warning(coverage: Coverage, algorithm: str, key: str) -> Optional[str]:
    """The warning for a step that acts on less than half of the body, naming where the rest sits."""
    if coverage.body_share >= LOW_COVERAGE or not coverage.body_params:
        return None
    rest = "; ".join(
        f"{u['modules']} {u['type']} ({_count(u['params'])}" + (f": {u['why']})" if u["why"] else ")")
        for u in coverage.untouched
    )
    return (
        f"{key}: {algorithm} acts on only {coverage.body_share:.1%} of the parameters outside the embeddings and "
        f"the head ({_count(coverage.acted_body_params)} of {_count(coverage.body_params)}); the rest sits in {rest}"
    )


def _count(n: int) -> str:
    for unit, size in (("B", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return str(n)


def _size(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"
