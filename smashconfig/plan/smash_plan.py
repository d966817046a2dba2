"""``SmashPlan``: the lock of a smash, as plain data.

For each active algorithm in order: its hyperparameters and override rules, its
``target_modules`` as written (or inferred, marked so), the resolved paths, the ones the
algorithm acts on grouped by their effective hyperparameters, the targeted leaves it skips with
the reason, and its coverage. Printable, JSON-serialisable and replayable: ``smash(model, plan)``
applies it and ``load_smashed`` rebuilds a smashed model from it. ``plan_smash`` builds it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List

from smashconfig.errors import SavedModelError

if TYPE_CHECKING:
    from smashconfig.plan.verify import PlanDiff
    from smashconfig.target_modules.normalize import TARGET_MODULES_TYPE

PLAN_FORMAT = 1


@dataclass
class PlanStep:
    """One algorithm's part of a plan."""

    algorithm: str
    group: str
    params: Dict[str, Any]
    """Hyperparameters other than ``target_modules``, defaults filled in."""
    target_modules: "TARGET_MODULES_TYPE"
    """The patterns as written (normal form), or the inferred ones when ``inferred``."""
    inferred: bool
    targeted: List[str]
    """Every resolved path, containers included, in ``named_modules()`` order."""
    acted: List[str]
    """The targeted leaves the algorithm acts on."""
    skipped: Dict[str, str]
    """Targeted leaves the algorithm does not act on → why."""
    containers: int
    needs_calibration: bool = False
    warnings: List[str] = field(default_factory=list)
    overrides: List[Dict[str, Any]] = field(default_factory=list)
    """The override rules as checked (normal form), in order."""
    groups: List[Dict[str, Any]] = field(default_factory=list)
    """The acted-on paths grouped by effective hyperparameters: ``{"params", "paths", "set_by"}``, where
    ``set_by`` maps each overridden hyperparameter to the numbers (1-based) of the rules that set it."""
    coverage: Dict[str, Any] = field(default_factory=dict)
    """Parameters and bytes acted on, out of all and out of the body (see ``target_modules.coverage``)."""

    def skip_summary(self) -> Dict[str, List[str]]:
        """Reason → paths skipped for it."""
        return group_by_reason(self.skipped)

    def module_groups(self) -> List[Dict[str, Any]]:
        """``groups``, or the one group of every acted-on path for a plan made without them."""
        return self.groups or [{"params": dict(self.params), "paths": list(self.acted), "set_by": {}}]


@dataclass
class SmashPlan:
    """The ordered steps of a smash, with the config and the model they were planned for."""

    steps: List[PlanStep]
    model: str
    modules: int
    config: Dict[str, Any]
    version: str = ""
    format: int = PLAN_FORMAT

    def step(self, algorithm: str) -> PlanStep:
        """The step of ``algorithm``."""
        from smashconfig.text.didyoumean import did_you_mean
        from smashconfig.errors import UnknownAlgorithmError

        for step in self.steps:
            if step.algorithm == algorithm:
                return step
        names = [step.algorithm for step in self.steps]
        raise UnknownAlgorithmError(
            f"this plan has no step {algorithm!r}; its steps are {', '.join(map(repr, names)) or 'none'}."
            + did_you_mean(algorithm, names),
            key=algorithm,
        )

    # ----- serialisation -----------------------------------------------------------------------------

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-serialisable dict (plain lists, dicts, strings, numbers)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SmashPlan":
        """The plan ``to_dict`` wrote; a malformed dict is a :class:`SavedModelError`."""
        try:
            if data.get("format") != PLAN_FORMAT:
                raise ValueError(f"unknown plan format {data.get('format')!r} (expected {PLAN_FORMAT})")
            steps = [PlanStep(**step) for step in data["steps"]]
            fields = {k: data[k] for k in ("model", "modules", "config", "version", "format")}
            return cls(steps=steps, **fields)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise SavedModelError(f"not a smashconfig plan: {error}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "SmashPlan":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as error:
            raise SavedModelError(f"not a smashconfig plan: malformed JSON at line {error.lineno}") from None

    # ----- reading -----------------------------------------------------------------------------------

    def verify(self, model: Any) -> "PlanDiff":
        """Re-resolve this plan's patterns on ``model``: the paths that would be added or lost.

        The result is falsy (``.ok``) when ``model`` resolves exactly as planned; ``str()`` of it is
        a report. Use it on an unsmashed model of the same architecture, e.g. before loading.
        """
        from smashconfig.plan.verify import verify_plan

        return verify_plan(self, model)

    def check_values(self, registry: Any = None) -> None:
        """Refuse a plan (edited by hand, say) holding values the config space does not allow:
        each step's hyperparameters, patterns, override rules, and each group's values."""
        from smashconfig.config.smash_config import SmashConfig
        from smashconfig.errors import PlanError, SmashConfigError

        for step in self.steps:
            settings = [{**step.params, "target_modules": step.target_modules, "overrides": step.overrides}]
            settings += [group.get("params", {}) for group in step.groups]
            for values in settings:
                try:
                    SmashConfig.from_dict({step.algorithm: values}, registry=registry)
                except SmashConfigError as error:
                    raise PlanError(f"the plan's step {step.algorithm!r} holds a value the config space refuses: {error}") from None

    def __str__(self) -> str:
        from smashconfig.plan.render import render_plan

        return render_plan(self)


def group_by_reason(skipped: Dict[str, str]) -> Dict[str, List[str]]:
    """Reason → the paths skipped for it, in order."""
    out: Dict[str, List[str]] = {}
    for path, reason in skipped.items():
        out.setdefault(reason, []).append(path)
    return out
