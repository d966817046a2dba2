"""What ``apply`` receives: the explicit interface between the core and an algorithm.

An algorithm's :meth:`~smashconfig.Algorithm.apply_step` gets one :class:`StepInput`: the model,
the modules to change grouped by their effective hyperparameters, the calibration batches, a
progress callback, and a way to replace a module at a path (every path of a shared module).
The simple plugin form ``apply(model, targets, params)`` is called once per group by default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional

from smashconfig.target_modules.tree import ModuleSlots


@dataclass
class ModuleGroup:
    """Paths (in ``named_modules()`` order) that share their effective hyperparameters."""

    paths: List[str]
    params: Dict[str, Any]


def _silent(path: Optional[str]) -> None:
    """The progress callback that reports nothing."""


def _nobody(module: Any) -> Optional[str]:
    """The ``changed_by`` that knows of no algorithm."""
    return None


@dataclass
class StepInput:
    """Everything one step of a smash hands its algorithm.

    ``progress(path)`` says which module the algorithm is working on (``None`` when it is between
    modules); a failure then names that module. ``replace(path, module)`` puts ``module`` where the
    module at ``path`` is, at every path that holds it.
    """

    model: Any
    groups: List[ModuleGroup]
    calibration_data: Optional[Iterable[Any]] = None
    progress: Callable[[Optional[str]], None] = _silent
    changed_by: Callable[[Any], Optional[str]] = _nobody
    """A module → the name of the registered algorithm that already changed it, or ``None``."""
    _slots: Optional[ModuleSlots] = field(default=None, repr=False)

    @property
    def paths(self) -> List[str]:
        """Every path of every group, group by group."""
        return [path for group in self.groups for path in group.paths]

    def get(self, path: str) -> Any:
        """The module at ``path``."""
        return self._module_slots().get(path)

    def replace(self, path: str, module: Any) -> None:
        """Put ``module`` in place of the module at ``path`` (at each path it is reachable at)."""
        self._module_slots().set(path, module)

    def _module_slots(self) -> ModuleSlots:
        if self._slots is None:
            self._slots = ModuleSlots(self.model)
        return self._slots
