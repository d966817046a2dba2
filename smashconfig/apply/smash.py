"""``smash``: apply a config or a plan to a model in place, all of it or none of it."""

from __future__ import annotations

import logging
import time
from collections import abc
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Optional, Union

from smashconfig.apply.modes import carry_modes, record_modes
from smashconfig.apply.progress import StepProgress, TrackedPaths
from smashconfig.apply.snapshot import ModelSnapshot, paused_gc
from smashconfig.contract.registry import Registry, default_registry
from smashconfig.contract.step import ModuleGroup, StepInput
from smashconfig.errors import PlanError, SmashError, describe
from smashconfig.plan.build import plan_on_index
from smashconfig.plan.smash_plan import SmashPlan
from smashconfig.target_modules.tree import ModuleIndex, index_modules

if TYPE_CHECKING:
    from smashconfig.config.smash_config import SmashConfig
    from smashconfig.contract.algorithm import Algorithm

logger = logging.getLogger("smashconfig")

StepCall = Callable[["Algorithm", StepInput], None]


def smash(
    model: Any,
    config: Union["SmashConfig", SmashPlan, Mapping[str, Any]],
    *,
    calibration_data: Optional[Iterable[Any]] = None,
    strict: bool = False,
) -> Any:
    """Apply ``config`` (a :class:`~smashconfig.SmashConfig`, its dict form, or a
    :class:`~smashconfig.SmashPlan`) to ``model`` in place and return it, with ``model.smash_plan``.

    A config is planned first; a plan is first verified: ``model`` must resolve exactly as the plan
    says. Every check runs before the first change: the plan, backend imports, calibration data
    where activations are quantized, and each algorithm's own checks. If a step still fails, the
    model is restored exactly as it was and the :class:`~smashconfig.errors.SmashError` names the
    step and the module, and any tensor the step wrote into rather than replaced.
    """
    refuse_smashed(model)
    # nothing planned or recorded here is garbage: collections walking the whole model meanwhile are wasted
    with paused_gc():
        return _smash(model, config, calibration_data, strict)


def _smash(model: Any, config: Union["SmashConfig", SmashPlan, Mapping[str, Any]], calibration_data: Any, strict: bool) -> Any:
    """:func:`smash` with the model indexed once, for the plan, the snapshot and the modes."""
    index = index_modules(model)
    if isinstance(config, SmashPlan):
        plan, registry = config, default_registry()
        check_plan_fits(plan, model, registry, index)
    else:
        plan = plan_on_index(model, config, index, strict=strict)
        registry = _registry_of(config)
    preflight(model, plan, calibration_data, registry)
    started = time.perf_counter()
    run_steps(model, plan, _apply_step, calibration_data, registry, index=index)
    model.smash_plan = plan
    logger.info("%s", summary(plan, time.perf_counter() - started))
    return model


def refuse_smashed(model: Any) -> None:
    """A model smashed already cannot be smashed again: its plan would not record the whole."""
    previous = getattr(model, "smash_plan", None)
    if previous is not None:
        done = ", ".join(step.algorithm for step in previous.steps)
        raise PlanError(
            f"this {type(model).__name__} was smashed already ({done}); smash the original model once with a config "
            "that holds every algorithm (one per group, e.g. quanto and lora together), so that save_smashed "
            "records the whole plan.",
        )


def check_plan_fits(plan: SmashPlan, model: Any, registry: Registry, index: Optional[ModuleIndex] = None) -> None:
    """Refuse a plan whose values the space does not allow, or that ``model`` does not resolve as."""
    from smashconfig.plan.verify import verify_plan

    plan.check_values(registry)
    diff = verify_plan(plan, model, registry, index=index)
    if not diff.ok:
        raise PlanError(f"the model does not fit the plan: {diff}")


def _registry_of(config: Any) -> Registry:
    registry = getattr(config, "registry", None)
    return registry if isinstance(registry, Registry) else default_registry()


def preflight(model: Any, plan: SmashPlan, calibration_data: Optional[Iterable[Any]], registry: Registry) -> None:
    """Every check that can fail before the model is touched."""
    for step in plan.steps:
        algorithm = registry.get(step.algorithm)
        algorithm.import_backend()
        if step.needs_calibration:
            if calibration_data is None:
                raise PlanError(
                    f"{step.algorithm} with {_params_text(step.params)} quantizes activations, which needs "
                    "calibration batches: smash(model, config, calibration_data=[batch, ...]).",
                    key=step.algorithm,
                )
            _check_batches(calibration_data, step.algorithm)
        algorithm.check(model, step.acted, step.params, calibration_data)


def _check_batches(calibration_data: Any, algorithm: str) -> None:
    """Refuse calibration data that is plainly not a collection of batches, or is empty."""
    import torch

    one_batch = isinstance(calibration_data, (abc.Mapping, torch.Tensor))
    if one_batch or isinstance(calibration_data, (str, bytes)) or not isinstance(calibration_data, abc.Iterable):
        hint = ": wrap a single batch in a list, [batch]." if one_batch else "."
        raise PlanError(
            f"calibration_data must be a list, iterable or DataLoader of batches; got {describe(calibration_data)}{hint}",
            key=algorithm,
        )
    try:
        empty = isinstance(calibration_data, abc.Sized) and len(calibration_data) == 0
    except TypeError:  # a DataLoader over an IterableDataset has no length
        empty = False
    if empty:
        raise PlanError("calibration_data is empty; give at least one batch.", key=algorithm)


def apply_plan(model: Any, plan: SmashPlan, *, calibration_data: Any = None, registry: Optional[Registry] = None) -> None:
    """Run each step's ``apply_step``; on failure restore the model and raise."""
    run_steps(model, plan, _apply_step, calibration_data, registry)


def _apply_step(algorithm: "Algorithm", step: StepInput) -> None:
    algorithm.apply_step(step)


def rebuild_smashed(model: Any, plan: SmashPlan, registry: Optional[Registry] = None) -> None:
    """Recreate the smashed structure of ``plan`` on an unsmashed model (possibly on the meta device)
    without computing any weight: each step's ``rebuild_step``. ``load_smashed`` then loads the tensors."""
    refuse_smashed(model)
    run_steps(model, plan, lambda algorithm, step: algorithm.rebuild_step(step), None, registry)


def run_steps(
    model: Any,
    plan: SmashPlan,
    call: StepCall,
    calibration_data: Any,
    registry: Optional[Registry],
    *,
    index: Optional[ModuleIndex] = None,
) -> None:
    """``call(algorithm, step)`` for each step in order, all or nothing (``index``: the model's
    modules as indexed just before, when the caller has them)."""
    registry = registry if registry is not None else default_registry()
    # the snapshot keeps many small objects alive; automatic collections walking them (and the whole
    # model) while thousands of modules are replaced would cost more than the work itself
    with paused_gc():
        snapshot = ModelSnapshot(model, index)
        modes = record_modes(model, index)
        for n, step in enumerate(plan.steps, 1):
            algorithm = registry.get(step.algorithm)
            progress = StepProgress(len(step.acted), f"{step.algorithm} ({n}/{len(plan.steps)})")
            groups = [ModuleGroup(TrackedPaths(g["paths"], progress), dict(g["params"])) for g in step.module_groups()]
            step_input = StepInput(model, groups, calibration_data, progress, changed_by=registry.changed_by)
            started = time.perf_counter()
            try:
                call(algorithm, step_input)
            except BaseException as error:
                written = snapshot.restore()
                if not isinstance(error, Exception):
                    raise
                raise _failure(n, step.algorithm, progress.current, error, written) from error
            finally:
                progress.close()
            logger.debug(
                "step %d/%d %s: %d modules in %d group(s) in %.3f s",
                n, len(plan.steps), step.algorithm, len(step.acted), len(groups), time.perf_counter() - started,
            )
        carry_modes(model, modes)


def _failure(n: int, algorithm: str, module: Optional[str], error: Exception, written: list) -> SmashError:
    where = f" at module {module!r}" if module else ""
    restored = (
        "The model was restored: the same modules, parameters and buffers at the same paths, none written in place."
        if not written
        else "The model was restored, but these tensors were written in place or given new data and keep the new "
        f"values: {written}."
    )
    return SmashError(
        f"step {n} ({algorithm}) failed{where}: {type(error).__name__}: {error}. {restored}",
        step=algorithm,
        module=module,
    )


def _params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def summary(plan: SmashPlan, seconds: float) -> str:
    """One paragraph: what each step did, and how long it took."""
    parts = []
    for step in plan.steps:
        skipped = f", skipped {len(step.skipped)}" if step.skipped else ""
        groups = f" in {len(step.groups)} groups" if len(step.groups) > 1 else ""
        parts.append(
            f"{step.algorithm} ({_params_text(step.params)}) acted on {len(step.acted)} of "
            f"{len(step.targeted)} targeted modules{groups}{skipped}"
        )
    return f"smashed {plan.model} in {seconds:.2f} s: " + "; ".join(parts) + "."
