"""Which targeted modules an algorithm acts on, and why it skips the others."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional

if TYPE_CHECKING:
    from smashconfig.contract.algorithm import Algorithm
    from smashconfig.target_modules.tree import ModuleIndex


@dataclass
class Split:
    """Targeted module indices, split: ``acted`` leaves, ``skipped`` leaves (→ reason), containers."""

    acted: List[int] = field(default_factory=list)
    skipped: Dict[int, str] = field(default_factory=dict)
    containers: List[int] = field(default_factory=list)


def split_targets(
    index: "ModuleIndex", targeted: List[int], algorithm: Optional["Algorithm"], params: Mapping[str, Any]
) -> Split:
    """Containers are listed, never acted on; each targeted leaf is acted on unless the algorithm
    gives a reason to skip it (without an algorithm: every targeted leaf that holds parameters)."""
    split = Split()
    for i in targeted:
        path, module = index.paths[i], index.modules[i]
        if module._modules:
            split.containers.append(i)
            continue
        if algorithm is not None:
            reason = algorithm.skip_reason(path, module, params)
        else:
            reason = None if next(module.parameters(recurse=False), None) is not None else "no parameters"
        if reason is None:
            split.acted.append(i)
        else:
            split.skipped[i] = reason
    return split


def actable(index: "ModuleIndex", i: int, algorithm: Optional["Algorithm"], params: Mapping[str, Any]) -> bool:
    """Whether the algorithm would act on module ``i`` if it were targeted (any leaf with parameters, without one)."""
    module = index.modules[i]
    if module._modules:
        return False
    if algorithm is None:
        return next(module.parameters(recurse=False), None) is not None
    return algorithm.skip_reason(index.paths[i], module, params) is None
