"""smashconfig: say which compression algorithms to apply to which submodules, then ``smash``.

``import smashconfig`` is cheap: the public names below are imported on first use, and no
backend (torch, ConfigSpace, optimum-quanto, peft, transformers) is imported until a step
needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List

__version__ = "0.1.0"

_EXPORTS = {
    "SmashConfig": "smashconfig.config.smash_config",
    "Algorithm": "smashconfig.contract.algorithm",
    "register_algorithm": "smashconfig.contract.registry",
    "unregister_algorithm": "smashconfig.contract.registry",
    "plan_smash": "smashconfig.plan.build",
    "SmashPlan": "smashconfig.plan.smash_plan",
    "smash": "smashconfig.apply.smash",
    "save_smashed": "smashconfig.apply.saving",
    "load_smashed": "smashconfig.apply.saving",
    "SmashConfigError": "smashconfig.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]

if TYPE_CHECKING:
    from smashconfig.contract.algorithm import Algorithm
    from smashconfig.config.smash_config import SmashConfig
    from smashconfig.errors import SmashConfigError
    from smashconfig.plan.build import plan_smash
    from smashconfig.plan.smash_plan import SmashPlan
    from smashconfig.contract.registry import register_algorithm, unregister_algorithm
    from smashconfig.apply.saving import load_smashed, save_smashed
    from smashconfig.apply.smash import smash


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'smashconfig' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_EXPORTS))
