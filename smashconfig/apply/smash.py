"""``smash``: apply a plan to a model in place, all of it or none of it."""

from __future__ import annotations

import inspect
import logging
import time
from collections import abc
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Union

from smashconfig.errors import PlanError, SmashError, describe
from smashconfig.apply.modes import carry_modes, record_modes
from smashconfig.plan.smash_plan import plan_smash
from smashconfig.apply.progress import TrackedPaths
from smashconfig.contract.registry import default_registry
from smashconfig.apply.snapshot import ModelSnapshot, paused_gc

if TYPE_CHECKING:
    from smashconfig.contract.algorithm import Algorithm
    from smashconfig.config.smash_config import SmashConfig
    from smashconfig.plan.smash_plan import SmashPlan

logger = logging.getLogger("smashconfig")


def smash(
    model: Any,
    config: Union["SmashConfig", Mapping[str, Any]],
    *,
    calibration_data: Optional[Iterable[Any]] = None,
    strict: bool = False,
) -> Any:
    """Apply ``config`` to ``model`` in place and return it, with ``model.smash_plan`` attached.

    Every check runs before the first change: the plan (targets, backends installed), backend
    imports, calibration data where activations are quantized, and each algorithm's own checks.
    If a step still fails, the model is restored exactly as it was (same module objects, same
    state) and the :class:`~smashconfig.errors.SmashError` names the step and the module, and
    any tensor the step wrote into rather than replaced.
    """
    previous = getattr(model, "smash_plan", None)
    if previous is not None:
        done = ", ".join(step.algorithm for step in previous.steps)
        raise PlanError(
            f"this {type(model).__name__} was smashed already ({done}); smash the original model once with a config "
            "that holds every algorithm (one per group, e.g. quanto and lora together), so that save_smashed "
            "records the whole plan.",
        )
    plan = plan_smash(model, config, strict=strict)
    preflight(model, plan, calibration_data)
    started = time.perf_counter()
    apply_plan(model, plan, calibration_data=calibration_data, rebuild=False)
    model.smash_plan = plan
    logger.info("%s", summary(plan, time.perf_counter() - started))
    return model


def preflight(model: Any, plan: "SmashPlan", calibration_data: Optional[Iterable[Any]]) -> None:
    """Every check that can fail before the model is touched."""
    for step in plan.steps:
        algorithm = default_registry().get(step.algorithm)
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


def apply_plan(model: Any, plan: "SmashPlan", *, calibration_data: Any = None, rebuild: bool) -> None:
    """Run each step (``apply``, or ``rebuild`` for loading); on failure restore the model and raise."""
    # the snapshot keeps many small objects alive; automatic collections walking them (and the whole
    # model) while thousands of modules are replaced would cost more than the work itself
    with paused_gc():
        _apply_steps(model, plan, calibration_data, rebuild)


def _apply_steps(model: Any, plan: "SmashPlan", calibration_data: Any, rebuild: bool) -> None:
    snapshot = ModelSnapshot(model)
    modes = record_modes(model)
    for n, step in enumerate(plan.steps, 1):
        algorithm = default_registry().get(step.algorithm)
        targets = TrackedPaths(step.acted, f"{step.algorithm} ({n}/{len(plan.steps)})")
        started = time.perf_counter()
        try:
            if rebuild:
                algorithm.rebuild(model, targets, dict(step.params))
            else:
                _call_apply(algorithm, model, targets, dict(step.params), calibration_data)
        except BaseException as error:
            written = snapshot.restore()
            if not isinstance(error, Exception):
                raise
            raise _failure(n, step.algorithm, targets.current, error, written) from error
        logger.debug(
            "step %d/%d %s: %s %d modules in %.3f s",
            n, len(plan.steps), step.algorithm, "rebuilt" if rebuild else "applied to", len(step.acted),
            time.perf_counter() - started,
        )
    carry_modes(model, modes)


def _call_apply(algorithm: "Algorithm", model: Any, targets: Any, params: dict, calibration_data: Any) -> None:
    """``algorithm.apply``, passing ``calibration_data`` only to algorithms that take it."""
    accepted = inspect.signature(algorithm.apply).parameters
    if "calibration_data" in accepted:
        algorithm.apply(model, targets, params, calibration_data=calibration_data)
    else:
        algorithm.apply(model, targets, params)


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


def summary(plan: "SmashPlan", seconds: float) -> str:
    """One paragraph: what each step did, and how long it took."""
    parts = []
    for step in plan.steps:
        skipped = f", skipped {len(step.skipped)}" if step.skipped else ""
        parts.append(
            f"{step.algorithm} ({_params_text(step.params)}) acted on {len(step.acted)} of "
            f"{len(step.targeted)} targeted modules{skipped}"
        )
    return f"smashed {plan.model} in {seconds:.2f} s: " + "; ".join(parts) + "."
