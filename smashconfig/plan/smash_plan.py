"""``plan_smash``: the dry run that decides everything ``smash`` will do, touching nothing.

A :class:`SmashPlan` lists, for each active algorithm in order, its hyperparameters, its
``target_modules`` as written (or inferred, marked so), the resolved paths, the ones the
algorithm acts on, and the targeted leaves it skips with the reason. It is printable,
JSON-serialisable and replayable: ``load_smashed`` rebuilds a smashed model from it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union

from smashconfig.target_modules.acting import split_targets
from smashconfig.target_modules.defaults import infer_default_targets
from smashconfig.errors import PlanError, SavedModelError
from smashconfig.contract.registry import default_registry
from smashconfig.target_modules.lint import check_targets

logger = logging.getLogger("smashconfig")
from smashconfig.target_modules.resolve import check_resolution, emit, resolve
from smashconfig.target_modules.tree import index_modules
from smashconfig.text import plural

if TYPE_CHECKING:
    from smashconfig.config.smash_config import SmashConfig
    from smashconfig.plan.verify import PlanDiff
    from smashconfig.target_modules import TARGET_MODULES_TYPE
    from smashconfig.target_modules.tree import ModuleIndex

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

    def skip_summary(self) -> Dict[str, List[str]]:
        """Reason → paths skipped for it."""
        return group_by_reason(self.skipped)


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

    def __str__(self) -> str:
        from smashconfig.plan.render import render_plan

        return render_plan(self)


def plan_smash(model: Any, config: Union["SmashConfig", Mapping[str, Any]], *, strict: bool = False) -> SmashPlan:
    """Decide every step of ``smash(model, config)`` without touching the model.

    Resolves each active algorithm's ``target_modules`` (inferring defaults where ``None``),
    checks that its backend is installed and that it acts on at least one module. Pattern
    problems are warnings (:class:`~smashconfig.errors.TargetPatternWarning`); ``strict=True``
    makes them errors.
    """
    from smashconfig import __version__
    from smashconfig.config.smash_config import SmashConfig

    if not isinstance(config, SmashConfig):
        config = SmashConfig.from_dict(config)
    if not config.active_algorithms:
        raise PlanError("the config selects no algorithm; add one, e.g. cfg.add('quanto').")
    started = time.perf_counter()
    index = index_modules(model)
    logger.debug("indexed %d modules of %s in %.3f s", len(index), type(model).__name__, time.perf_counter() - started)
    steps = [_plan_step(model, config, name, index) for name in config.active_algorithms]
    for step in steps:
        logger.debug(
            "%s: %s target_modules %s resolved to %d targeted, %d acted on, %d skipped, %d containers",
            step.algorithm, "inferred" if step.inferred else "given", step.target_modules,
            len(step.targeted), len(step.acted), len(step.skipped), step.containers,
        )
    logger.debug("planned %d steps in %.3f s", len(steps), time.perf_counter() - started)
    emit([message for step in steps for message in step.warnings], strict=strict)
    return SmashPlan(
        steps=steps,
        model=type(model).__name__,
        modules=len(index),
        config=config.to_dict(),
        version=__version__,
    )


def _plan_step(model: Any, config: "SmashConfig", name: str, index: "ModuleIndex") -> PlanStep:
    algorithm = default_registry().get(name)
    algorithm.check_backend()
    params = config.hyperparameters(name)
    written: Optional[Dict[str, List[str]]] = params.pop("target_modules")
    key = f"{name}_target_modules"
    target_modules = written if written is not None else infer_default_targets(model, algorithm, index).target_modules
    resolution = resolve(target_modules, index, key=key)
    model_name = type(model).__name__
    check_resolution(resolution, key=key, model_name=model_name)

    split = split_targets(index, resolution.targeted, algorithm, params)
    acted = [index.paths[i] for i in split.acted]
    skipped = {index.paths[i]: reason for i, reason in split.skipped.items()}
    if not acted:
        reasons = "; ".join(f"{len(paths)} × {reason}" for reason, paths in group_by_reason(skipped).items())
        hints = check_targets(model, resolution, set(), algorithm, params, key) if written is not None else []
        raise PlanError(
            f"{name} would act on no module: {key} targets {plural(len(resolution.targeted), 'module')} of {model_name} "
            f"({plural(len(split.containers), 'container')}{'; ' + reasons if reasons else ''}). Target layers {name} supports"
            f"{' (' + algorithm.supports + ')' if algorithm.supports else ''}"
            + ("".join(f"; {hint}" for hint in hints) if hints else "."),
            key=key,
        )
    return PlanStep(
        algorithm=name,
        group=algorithm.group,
        params=params,
        target_modules=resolution.target_modules,
        inferred=written is None,
        targeted=resolution.paths,
        acted=acted,
        skipped=skipped,
        containers=len(split.containers),
        needs_calibration=algorithm.needs_calibration(params),
        warnings=[] if written is None else check_targets(model, resolution, set(split.acted), algorithm, params, key),
    )


def group_by_reason(skipped: Dict[str, str]) -> Dict[str, List[str]]:
    """Reason → the paths skipped for it, in order."""
    out: Dict[str, List[str]] = {}
    for path, reason in skipped.items():
        out.setdefault(reason, []).append(path)
    return out
