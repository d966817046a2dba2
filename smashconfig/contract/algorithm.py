"""The base class every compression algorithm derives from.

An algorithm says what it is (``name``, ``group``, its place in the order), what it needs
(``requires``, ``extra``), which hyperparameters it takes (ConfigSpace objects with unprefixed
names; ``target_modules`` and ``overrides`` are added for every algorithm), which modules it acts
on, how to recognise a module it has already changed, and how to apply itself. Only ``name``,
``group``, :meth:`hyperparameters` and :meth:`apply` are required.
"""

from __future__ import annotations

import importlib.metadata
from typing import TYPE_CHECKING, Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

from smashconfig.errors import MissingBackendError
from smashconfig.text.install import install_command

if TYPE_CHECKING:
    from ConfigSpace.hyperparameters import Hyperparameter
    from torch import nn

    from smashconfig.contract.step import StepInput
    from smashconfig.target_modules.normalize import TARGET_MODULES_TYPE

DEFAULT_ORDER = 100
"""Where an algorithm that does not say otherwise runs in ``smash`` (the built-in quantizers say 20, adapters 30)."""


class Algorithm:
    """A compression algorithm that ``smash`` can apply to the targeted modules of a model."""

    name: ClassVar[str]
    group: ClassVar[str]
    requires: ClassVar[Tuple[str, ...]] = ()
    """PyPI distributions the backend needs, e.g. ``("optimum-quanto",)``."""
    extra: ClassVar[Optional[str]] = None
    """The ``smashconfig`` extra that installs ``requires`` (defaults to ``name``)."""
    backend_modules: ClassVar[Tuple[str, ...]] = ()
    """Modules ``smash`` imports before changing anything, e.g. ``("optimum.quanto",)``."""
    order: ClassVar[int] = DEFAULT_ORDER
    """Position in ``smash``: lower runs first (quantizers 20, adapters 30, others 100 unless they say)."""
    warns_on_low_coverage: ClassVar[bool] = True
    """Whether a plan warns when it acts on less than half of the body's parameters (a compressor
    expected to shrink the model says yes; an adapter, which adds parameters where it is put, no)."""
    overridable: ClassVar[Optional[Tuple[str, ...]]] = None
    """The hyperparameters an override rule may set; ``None``: all of them."""
    description: ClassVar[str] = ""
    supports: ClassVar[str] = ""
    """The layers it acts on, in words (``"Linear and Conv2d layers"``), for messages."""

    def hyperparameters(self) -> List["Hyperparameter"]:
        """The ConfigSpace hyperparameters, named without the algorithm prefix."""
        raise NotImplementedError(f"{type(self).__name__} must define hyperparameters()")

    def conditions(self) -> List[Any]:
        """ConfigSpace conditions among the algorithm's own hyperparameters (unprefixed); none by default."""
        return []

    def apply(self, model: Any, targets: Sequence[str], params: Mapping[str, Any]) -> None:
        """Change ``model`` in place at each path of ``targets``, all with the hyperparameters ``params``.

        ``smash`` calls it once per group of modules that share their effective hyperparameters
        (see :meth:`apply_step`, which algorithms needing more override instead).
        """
        raise NotImplementedError(f"{type(self).__name__} must define apply() or apply_step()")

    def apply_step(self, step: "StepInput") -> None:
        """Apply this algorithm's step: the model, its groups of modules, calibration data, progress.

        The default calls :meth:`apply` once per group. Override it to see every group at once,
        to use ``step.calibration_data``, to report ``step.progress(path)``, or ``step.replace``.
        """
        for group in step.groups:
            self.apply(step.model, group.paths, dict(group.params))

    def is_changed(self, module: "nn.Module") -> bool:
        """Whether ``module`` is one this algorithm produced (a quantized layer, an adapted layer).

        The core uses it to refuse smashing twice, to leave the insides of changed modules alone,
        and to check a saved model fits its plan. The default recognises nothing.
        """
        return False

    # ----- which modules -------------------------------------------------------------------------

    def skip_reason(self, path: str, module: "nn.Module", params: Mapping[str, Any]) -> Optional[str]:
        """Why a targeted leaf module is not acted on, or ``None`` when the algorithm acts on it.

        The default acts on every leaf module that holds parameters of its own.
        """
        if next(module.parameters(recurse=False), None) is None:
            return f"{type(module).__name__} has no parameters"
        return None

    def selected_by_default(self, path: str, module: "nn.Module") -> bool:
        """Whether the inferred defaults (``target_modules`` = None) include this leaf module."""
        return self.skip_reason(path, module, self.default_params()) is None

    def default_target_modules(self, model: Any) -> "TARGET_MODULES_TYPE":
        """The ``target_modules`` used when the config leaves it ``None`` (see :mod:`smashconfig.target_modules.defaults`)."""
        from smashconfig.target_modules.defaults import infer_default_targets

        return infer_default_targets(model, self).target_modules

    # ----- checks before anything changes ---------------------------------------------------------

    def check(self, model: Any, targets: Sequence[str], params: Mapping[str, Any], calibration_data: Any) -> None:
        """Raise :class:`~smashconfig.errors.PlanError` if applying would fail; called before any change."""

    def needs_calibration(self, params: Mapping[str, Any]) -> bool:
        """Whether ``smash`` must be given ``calibration_data`` for these hyperparameters."""
        return False

    def rebuild(self, model: Any, targets: Sequence[str], params: Mapping[str, Any]) -> None:
        """Recreate the smashed structure on an unsmashed (possibly meta) model, without computing weights.

        ``load_smashed`` calls this once per group of modules sharing their hyperparameters, then
        loads the saved tensors. Algorithms that cannot be reloaded keep the default, which refuses.
        """
        raise NotImplementedError(f"algorithm {self.name!r} does not support load_smashed")

    def rebuild_step(self, step: "StepInput") -> None:
        """Rebuild this algorithm's step for loading; the default calls :meth:`rebuild` once per group."""
        for group in step.groups:
            self.rebuild(step.model, group.paths, dict(group.params))

    def saved_state(self, model: Any, targets: Sequence[str], params: Mapping[str, Any]) -> Dict[str, Any]:
        """State of the smashed modules that is neither a tensor nor in the plan (JSON); saved with them."""
        return {}

    def restore_state(self, model: Any, targets: Sequence[str], params: Mapping[str, Any], state: Dict[str, Any]) -> None:
        """Put back what :meth:`saved_state` recorded, after ``rebuild`` and the tensors are loaded."""

    def saved_layout(self, model: Any, targets: Sequence[str], params: Mapping[str, Any]) -> Dict[str, Any]:
        """How the tensors the smashed modules save differ from those ``rebuild`` leaves in place.

        Full tensor name → ``(shape, dtype)`` of a tensor the smashed model saves, or ``None`` for
        one the rebuilt model holds but does not save. ``load_smashed`` checks every saved tensor's
        name, shape and dtype against the rebuilt model with these changes, before reading any;
        the default is no change (the rebuilt modules hold the very tensors that are saved).
        """
        return {}

    # ----- derived ---------------------------------------------------------------------------------

    def default_params(self) -> Dict[str, Any]:
        """Every hyperparameter at its default, as plain values (``target_modules`` is ``None``, ``overrides`` empty)."""
        from smashconfig.contract.hyperparameters import default_of

        params = {hp.name: default_of(hp) for hp in self.hyperparameters()}
        params["target_modules"] = None
        params["overrides"] = []
        return params

    def sort_key(self) -> int:
        return self.order

    def install_hint(self) -> str:
        return install_command(self.extra or self.name)

    def missing_packages(self) -> List[str]:
        """The distributions of ``requires`` that are not installed (no backend is imported)."""
        missing = []
        for dist in self.requires:
            try:
                importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                missing.append(dist)
        return missing

    def check_backend(self) -> None:
        """Raise :class:`MissingBackendError` naming the extra to install when a backend is missing."""
        missing = self.missing_packages()
        if missing:
            raise MissingBackendError(
                f"algorithm {self.name!r} needs {', '.join(missing)}, which is not installed; "
                f"install it with: {self.install_hint()}",
                key=self.name,
            )

    def import_backend(self) -> None:
        """Import ``backend_modules`` now, so a broken install fails before the model changes
        (:meth:`check_backend`, which ``plan_smash`` runs, says whether the packages are installed)."""
        import importlib

        for module in self.backend_modules:
            try:
                importlib.import_module(module)
            except ImportError as error:
                raise MissingBackendError(
                    f"algorithm {self.name!r} cannot import {module}: {error}; reinstall it with: {self.install_hint()}",
                    key=self.name,
                ) from error

    def __repr__(self) -> str:
        return f"<algorithm {self.name!r} ({self.group})>"
