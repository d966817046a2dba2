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
    "SmashConfig": "smashconfig.config",
    "Algorithm": "smashconfig.algorithm",
    "register_algorithm": "smashconfig.registry",
    "unregister_algorithm": "smashconfig.registry",
    "plan_smash": "smashconfig.plan",
    "SmashPlan": "smashconfig.plan",
    "smash": "smashconfig.smashing",
    "save_smashed": "smashconfig.saving",
    "load_smashed": "smashconfig.saving",
    "SmashConfigError": "smashconfig.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]

if TYPE_CHECKING:
    from smashconfig.algorithm import Algorithm
    from smashconfig.config import SmashConfig
    from smashconfig.errors import SmashConfigError
    from smashconfig.plan import SmashPlan, plan_smash
    from smashconfig.registry import register_algorithm, unregister_algorithm
    from smashconfig.saving import load_smashed, save_smashed
    from smashconfig.smashing import smash


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'smashconfig' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_EXPORTS))
