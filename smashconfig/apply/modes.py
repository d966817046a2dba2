"""Train/eval mode for the modules a step adds: each takes the mode of what it replaced."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from smashconfig.target_modules.tree import ModuleIndex, components, index_modules

Modes = Dict[str, Tuple[Any, bool]]
"""path → (module, its ``training`` flag); the root is at ``""``."""


def record_modes(model: Any, index: Optional[ModuleIndex] = None) -> Modes:
    """Every module of ``model`` (indexed as ``index``, when given) with its train/eval flag."""
    roots = components(model)
    index = index if index is not None else index_modules(model)
    modes: Modes = {path: (module, module.training) for path, module in zip(index.paths, index.modules)}
    if "" in roots:
        modes[""] = (roots[""], roots[""].training)
    return modes


def carry_modes(model: Any, before: Modes) -> None:
    """Give every module that is new since ``before`` the mode of the module it replaced, or,
    when it replaced none (an adapter's parts), the mode of its parent."""
    index = index_modules(model)
    current: Dict[str, bool] = {"": before[""][1]} if "" in before else {}
    for path, module in zip(index.paths, index.modules):
        old = before.get(path)
        if old is None or old[0] is not module:
            parent = path.rpartition(".")[0]
            module.training = old[1] if old is not None else current.get(parent, module.training)
        current[path] = module.training
