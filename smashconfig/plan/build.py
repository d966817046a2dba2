"""``plan_smash``: the dry run that decides everything ``smash`` will do, touching nothing."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Union

from smashconfig.errors import CoverageWarning, NoTargetsError, PlanError
from smashconfig.plan.smash_plan import PlanStep, SmashPlan, group_by_reason
from smashconfig.plan.groups import step_groups
from smashconfig.target_modules.decide import decide_targets
from smashconfig.target_modules.messages import emit
from smashconfig.target_modules.tree import ModuleIndex, index_modules
from smashconfig.text import plural

if TYPE_CHECKING:
    from smashconfig.config.smash_config import SmashConfig
    from smashconfig.contract.registry import Registry

logger = logging.getLogger(__name__)


def plan_smash(model: Any, config: Union["SmashConfig", Mapping[str, Any]], *, strict: bool = False) -> SmashPlan:
    """Decide every step of ``smash(model, config)`` without touching the model.

    Resolves each active algorithm's ``target_modules`` (inferring defaults where ``None``) and
    override rules, checks that its backend is installed and that it acts on at least one module,
    and measures its coverage. Pattern problems are warnings
    (:class:`~smashconfig.errors.TargetPatternWarning`); ``strict=True`` makes them errors. A step
    acting on less than half of the parameters outside the embeddings and the head gives a
    :class:`~smashconfig.errors.CoverageWarning`.
    """
    return plan_on_index(model, config, index_modules(model), strict=strict)


def plan_on_index(
    model: Any, config: Union["SmashConfig", Mapping[str, Any]], index: ModuleIndex, *, strict: bool = False
) -> SmashPlan:
    """:func:`plan_smash` with the model's modules already indexed (``smash`` indexes them once)."""
    from smashconfig import __version__
    from smashconfig.config.smash_config import SmashConfig

    if not isinstance(config, SmashConfig):
        config = SmashConfig.from_dict(config)
    if not config.active_algorithms:
        raise PlanError("the config selects no algorithm; add one, e.g. cfg.add('quanto').")
    started = time.perf_counter()
    steps = [_plan_step(model, config, name, index) for name in config.active_algorithms]
    emit([message for step in steps for message in step.warnings], strict=strict)
    for step in steps:
        coverage_warning = step.coverage.get("warning")
        if coverage_warning:
            warnings.warn(CoverageWarning(coverage_warning), stacklevel=3)
    logger.debug("planned %d step(s) on %d modules in %.3f s", len(steps), len(index), time.perf_counter() - started)
    return SmashPlan(
        steps=steps,
        model=type(model).__name__,
        modules=len(index),
        config=config.to_dict(),
        version=__version__,
    )


def _plan_step(model: Any, config: "SmashConfig", name: str, index: ModuleIndex) -> PlanStep:
    registry: "Registry" = config.registry
    algorithm = registry.get(name)
    algorithm.check_backend()
    params = config.params(name)
    written = params.pop("target_modules")
    overrides = params.pop("overrides")
    decision = decide_targets(
        model, written, algorithm, params, overrides=overrides, index=index, changed_by=registry.changed_by
    )
    key = decision.key
    if decision.no_targets is not None:
        raise NoTargetsError(decision.no_targets, key=key)
    if not decision.split.acted:
        reasons = "; ".join(f"{len(paths)} × {reason}" for reason, paths in group_by_reason(decision.skipped).items())
        raise PlanError(
            f"{name} would act on no module: {key} targets {plural(len(decision.resolution.targeted), 'module')} of "
            f"{decision.model_name} ({plural(len(decision.split.containers), 'container')}"
            f"{'; ' + reasons if reasons else ''}). Target layers {name} supports"
            f"{' (' + algorithm.supports + ')' if algorithm.supports else ''}"
            + ("".join(f"; {hint}" for hint in decision.warnings) if decision.warnings else "."),
            key=key,
        )
    groups = step_groups(decision)
    logger.debug(
        "%s: target_modules %s %s: %d targeted, acts on %d in %d group(s), skips %d",
        name, "inferred" if written is None else "as written", decision.resolution.target_modules,
        len(decision.resolution.targeted), len(decision.split.acted), len(groups), len(decision.split.skipped),
    )
    coverage = decision.coverage.to_dict() if decision.coverage is not None else {}
    if decision.coverage_warning:
        coverage["warning"] = decision.coverage_warning
    return PlanStep(
        algorithm=name,
        group=algorithm.group,
        params=params,
        target_modules=decision.target_modules,
        inferred=decision.inferred,
        targeted=decision.targeted,
        acted=decision.acted,
        skipped=decision.skipped,
        containers=len(decision.split.containers),
        needs_calibration=any(algorithm.needs_calibration(group["params"]) for group in groups),
        warnings=decision.warnings,
        overrides=list(overrides),
        groups=groups if overrides else [],
        coverage=coverage,
    )
