"""Coverage: how many of a model's parameters (and bytes) a step acts on, and where the rest sits.

Each parameter is counted once (tied and shared weights too), at the module that holds it
directly. The *body* is every parameter outside the input embeddings (``Embedding`` layers) and
the output head: the part a quantizer is expected to shrink.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Set

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
    index: ModuleIndex,
    acted: List[int],
    heads: Set[str],
    why_untouched: Callable[[int], Optional[str]],
) -> Coverage:
    """Coverage of the modules at ``acted``; ``why_untouched(i)`` says why module ``i`` was left alone."""
    from torch import nn
    from torch.nn.parameter import is_lazy

    acted_set = set(acted)
    outside = _outside_body(index, heads, nn)
    seen: Set[int] = set()
    totals = [0, 0, 0, 0, 0, 0, 0]  # params, bytes, total, total bytes, body, body bytes, acted body
    untouched: Dict[str, Dict[str, Any]] = {}
    for i, module in enumerate(index.modules):
        own = [p for p in module._parameters.values() if p is not None and id(p) not in seen and not is_lazy(p)]
        if not own:
            continue
        seen.update(id(p) for p in own)
        count = sum(p.numel() for p in own)
        size = sum(p.numel() * p.element_size() for p in own)
        totals[2] += count
        totals[3] += size
        is_acted = i in acted_set  # acted-on modules are leaves: what they hold is theirs
        if is_acted:
            totals[0] += count
            totals[1] += size
        if i in outside:
            continue
        totals[4] += count
        totals[5] += size
        if is_acted:
            totals[6] += count
            continue
        kind = type(module).__name__
        entry = untouched.get(kind)
        if entry is None:
            untouched[kind] = entry = {"type": kind, "modules": 0, "params": 0, "bytes": 0, "why": why_untouched(i)}
        entry["modules"] += 1
        entry["params"] += count
        entry["bytes"] += size
    largest = sorted(untouched.values(), key=lambda e: -e["params"])[:UNTOUCHED_SHOWN]
    return Coverage(*totals, untouched=largest)


def _outside_body(index: ModuleIndex, heads: Set[str], nn: Any) -> Set[int]:
    """Module indices of the input embeddings and the output head (with everything inside them)."""
    out: Set[int] = set()
    paths = index.paths
    for i, (path, module) in enumerate(zip(paths, index.modules)):
        if path in heads or isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
            out.add(i)
            prefix = path + "."
            j = i + 1
            while j < len(paths) and paths[j].startswith(prefix):
                out.add(j)
                j += 1
    return out


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
