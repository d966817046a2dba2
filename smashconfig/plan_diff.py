"""A plan as a lock: what re-resolving its patterns on another model would add or lose."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List

from smashconfig.target_modules.fold import fold

if TYPE_CHECKING:
    from smashconfig.plan import SmashPlan


@dataclass
class StepDiff:
    """Paths one step would target (and act on) differently on the other model."""

    algorithm: str
    added: List[str] = field(default_factory=list)
    lost: List[str] = field(default_factory=list)
    acted_added: List[str] = field(default_factory=list)
    acted_lost: List[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not (self.added or self.lost or self.acted_added or self.acted_lost)


@dataclass
class PlanDiff:
    """The result of :meth:`SmashPlan.verify`: empty when the model resolves exactly as planned."""

    model: str
    planned_for: str
    steps: List[StepDiff]

    @property
    def ok(self) -> bool:
        return all(step.same for step in self.steps)

    def __bool__(self) -> bool:
        return not self.ok

    def to_dict(self) -> Dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}

    def __str__(self) -> str:
        if self.ok:
            return f"{self.model} resolves exactly as the plan for {self.planned_for}: no path added or lost."
        lines = [f"{self.model} resolves differently from the plan for {self.planned_for}:"]
        for step in self.steps:
            for label, paths in (
                ("would be added to the targets", step.added),
                ("would be lost from the targets", step.lost),
                ("would newly be acted on", step.acted_added),
                ("would no longer be acted on", step.acted_lost),
            ):
                if paths:
                    lines.append(f"  {step.algorithm}: {len(paths)} {label}:")
                    lines.extend(f"    {text}  ({count})" for text, count, _ in fold(paths))
        return "\n".join(lines)


def verify_plan(plan: "SmashPlan", model: Any) -> PlanDiff:
    """Re-resolve each step's patterns (as recorded, inferred ones too) on ``model`` and compare."""
    from smashconfig.acting import split_targets
    from smashconfig.registry import default_registry
    from smashconfig.target_modules.resolve import resolve
    from smashconfig.target_modules.tree import index_modules

    index = index_modules(model)
    steps = []
    for step in plan.steps:
        algorithm = default_registry().get(step.algorithm)
        resolution = resolve(step.target_modules, index, key=f"{step.algorithm}_target_modules")
        split = split_targets(index, resolution.targeted, algorithm, step.params)
        targeted = resolution.paths
        acted = [index.paths[i] for i in split.acted]
        steps.append(
            StepDiff(
                algorithm=step.algorithm,
                added=_minus(targeted, step.targeted),
                lost=_minus(step.targeted, targeted),
                acted_added=_minus(acted, step.acted),
                acted_lost=_minus(step.acted, acted),
            )
        )
    return PlanDiff(model=type(model).__name__, planned_for=plan.model, steps=steps)


def _minus(a: List[str], b: List[str]) -> List[str]:
    other = set(b)
    return [x for x in a if x not in other]
