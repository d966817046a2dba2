"""A plan as a lock: what re-resolving its patterns on another model, or planning a config anew,
would add or lose."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from smashconfig.target_modules.fold import fold


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
    changes: List[str] = field(default_factory=list)
    """Differences other than paths: algorithms or hyperparameters that differ from the plan's."""
    from_config: bool = False
    """Whether the other side is a config planned anew (:func:`compare_plans`) rather than the plan's
    own patterns re-resolved (:meth:`SmashPlan.verify`)."""

    @property
    def ok(self) -> bool:
        """Whether the other side resolves exactly as planned."""
        return not self.changes and all(step.same for step in self.steps)

    def __bool__(self) -> bool:
        """Truthy when it fits (``.ok``)."""
        return self.ok

    def to_dict(self) -> Dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}

    def __str__(self) -> str:
        subject = f"the config on {self.model}" if self.from_config else self.model
        if self.ok:
            return f"{subject} resolves exactly as the plan for {self.planned_for}: no path added or lost."
        lines = [f"{subject} resolves differently from the plan for {self.planned_for}:"]
        lines.extend(f"  {change}" for change in self.changes)
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


def verify_plan(plan: Any, model: Any, registry: Any = None, *, index: Any = None) -> PlanDiff:
    """Re-resolve each step's patterns and rules (as recorded, inferred ones too) on ``model`` and compare
    (``index``: ``model``'s modules, when the caller has indexed them just before)."""
    from smashconfig.contract.registry import default_registry
    from smashconfig.plan.groups import step_groups
    from smashconfig.target_modules.decide import decide_targets
    from smashconfig.target_modules.tree import index_modules

    registry = registry if registry is not None else default_registry()
    index = index if index is not None else index_modules(model)
    steps = []
    changes: List[str] = []
    for step in plan.steps:
        decision = decide_targets(
            model, step.target_modules, registry.get(step.algorithm), step.params,
            overrides=step.overrides, index=index, changed_by=registry.changed_by, check=False,
        )
        steps.append(_step_diff(step.algorithm, step.targeted, step.acted, decision.targeted, decision.acted))
        if step.groups:
            changes.extend(_value_changes(step.algorithm, step.groups, step_groups(decision)))
    return PlanDiff(model=type(model).__name__, planned_for=plan.model, steps=steps, changes=changes)


def _value_changes(algorithm: str, old: List[Dict[str, Any]], new: List[Dict[str, Any]]) -> List[str]:
    """One line per hyperparameter whose per-module values differ between two sets of groups."""
    before = {path: group["params"] for group in old for path in group["paths"]}
    after = {path: group["params"] for group in new for path in group["paths"]}
    differ: Dict[str, List[str]] = {}
    for path in before.keys() & after.keys():
        for name in dict.fromkeys([*before[path], *after[path]]):
            if before[path].get(name) != after[path].get(name):
                differ.setdefault(name, []).append(path)
    return [
        f"{algorithm}: {name} differs from the plan on {len(paths)} module(s) ({', '.join(sorted(paths)[:3])}"
        f"{', ...' if len(paths) > 3 else ''})"
        for name, paths in differ.items()
    ]


def compare_plans(locked: "SmashPlan", current: "SmashPlan") -> PlanDiff:
    """What ``current`` (a config planned anew on a model) does differently from ``locked``."""
    mine = {step.algorithm: step for step in current.steps}
    theirs = {step.algorithm: step for step in locked.steps}
    changes: List[str] = []
    steps = []
    for name in list(theirs) + [name for name in mine if name not in theirs]:
        old: Optional[Any] = theirs.get(name)
        new: Optional[Any] = mine.get(name)
        if old is None:
            changes.append(f"{name}: not in the plan; the config adds it")
        elif new is None:
            changes.append(f"{name}: in the plan; the config no longer has it")
        else:
            changes.extend(
                f"{name}: {key} is {new.params.get(key)!r}; the plan has {old.params.get(key)!r}"
                for key in dict.fromkeys([*old.params, *new.params])
                if old.params.get(key) != new.params.get(key)
            )
            if old.overrides != new.overrides:
                changes.append(f"{name}: the override rules differ from the plan's")
            changes.extend(_value_changes(name, old.module_groups(), new.module_groups()))
        steps.append(
            _step_diff(
                name,
                old.targeted if old else [],
                old.acted if old else [],
                new.targeted if new else [],
                new.acted if new else [],
            )
        )
    return PlanDiff(model=current.model, planned_for=locked.model, steps=steps, changes=changes, from_config=True)


def _step_diff(algorithm: str, targeted: List[str], acted: List[str], now_targeted: List[str], now_acted: List[str]) -> StepDiff:
    return StepDiff(
        algorithm=algorithm,
        added=_minus(now_targeted, targeted),
        lost=_minus(targeted, now_targeted),
        acted_added=_minus(now_acted, acted),
        acted_lost=_minus(acted, now_acted),
    )


def _minus(a: List[str], b: List[str]) -> List[str]:
    other = set(b)
    return [x for x in a if x not in other]
