"""A decision's groups of modules as plan data."""

from __future__ import annotations

from typing import Any, Dict, List

from smashconfig.target_modules.decide import TargetDecision


def step_groups(decision: TargetDecision) -> List[Dict[str, Any]]:
    """The decision's groups as plan data: params, paths, and which rules set which values."""
    out = []
    for group in decision.groups:
        set_by: Dict[str, List[int]] = {}
        for i in group.members:
            values = decision.values.get(i)
            for hp, rule in (values.set_by.items() if values is not None else ()):
                numbers = set_by.setdefault(hp, [])
                if rule not in numbers:
                    numbers.append(rule)
        out.append(
            {"params": dict(group.params), "paths": decision.paths(group.members), "set_by": {k: sorted(v) for k, v in set_by.items()}}
        )
    return out
