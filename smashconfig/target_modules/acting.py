"""Which targeted modules an algorithm acts on, and why it skips the others."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional

from smashconfig.target_modules.rules import ChangedBy, TargetRules, no_module_changed

if TYPE_CHECKING:
    from smashconfig.target_modules.tree import ModuleIndex


def is_container(module: Any) -> bool:
    """Whether ``module`` is a container: listed, never acted on. A module with submodules is one,
    unless it holds parameters of its own and its submodules hold none (fused MoE experts beside a
    parameter-free activation): that one is a leaf."""
    children = module._modules
    if not children:
        return False
    if not any(p is not None for p in module._parameters.values()):
        return True
    return any(True for child in children.values() if child is not None for _ in child.parameters())


def _holds_parameters(module: Any) -> bool:
    """Whether ``module`` holds a parameter of its own (what ``parameters(recurse=False)`` would yield)."""
    for p in module._parameters.values():
        if p is not None:
            return True
    return False


@dataclass
class Split:
    """Targeted module indices, split: ``acted`` leaves, ``skipped`` leaves (→ reason), containers."""

    acted: List[int] = field(default_factory=list)
    skipped: Dict[int, str] = field(default_factory=dict)
    containers: List[int] = field(default_factory=list)


class Acting:
    """Whether an algorithm (or, without one, the plain rule) acts on a module of ``index``.

    A module inside a module that an algorithm already changed (the adapters a LoRA layer holds,
    the parts of a quantized layer) is that algorithm's; no other algorithm acts on it.
    """

    def __init__(
        self,
        index: "ModuleIndex",
        algorithm: Optional[TargetRules],
        params: Mapping[str, Any],
        changed_by: ChangedBy = no_module_changed,
    ) -> None:
        self.index, self.algorithm, self.params = index, algorithm, params
        self._owners = _changed_ancestors(index, changed_by) if changed_by is not no_module_changed else {}

    def owner(self, i: int) -> Optional[str]:
        """Why module ``i`` belongs to an ancestor an algorithm already changed, or ``None``."""
        return self._owners.get(i)

    def reason(self, i: int, params: Optional[Mapping[str, Any]] = None) -> Optional[str]:
        """Why leaf ``i`` is not acted on (with ``params``, the algorithm's own values by default), or ``None``."""
        owner = self._owners.get(i)
        if owner is not None:
            return owner
        module = self.index.modules[i]
        if self.algorithm is None:
            return None if _holds_parameters(module) else "no parameters"
        return self.algorithm.skip_reason(self.index.paths[i], module, self.params if params is None else params)

    def actable(self, i: int) -> bool:
        """Whether the algorithm would act on module ``i`` if it were targeted."""
        return not is_container(self.index.modules[i]) and self.reason(i) is None

    def split(self, targeted: List[int], params: Optional[Mapping[int, Mapping[str, Any]]] = None) -> Split:
        """Containers are listed, never acted on; each targeted leaf is acted on unless there is a reason
        not to (``params``: a module's own values where overrides give it some)."""
        split = Split()
        modules, paths, owners = self.index.modules, self.index.paths, self._owners
        own = params or {}
        acted, skipped = split.acted.append, split.skipped
        skip_reason = self.algorithm.skip_reason if self.algorithm is not None else None
        for i in targeted:
            module = modules[i]
            # is_container and _holds_parameters, asked only where a module holds parameters of its own
            if module._modules and (not module._parameters or is_container(module)):
                split.containers.append(i)
                continue
            reason = owners.get(i) if owners else None
            if reason is None:  # what reason() says, written out: it runs once per targeted module
                if skip_reason is not None:
                    reason = skip_reason(paths[i], module, own.get(i, self.params))
                elif not module._parameters or not _holds_parameters(module):
                    reason = "no parameters"
            if reason is None:
                acted(i)
            else:
                skipped[i] = reason
        return split


def _changed_ancestors(index: "ModuleIndex", changed_by: ChangedBy) -> Dict[int, str]:
    """Module index → why it belongs to an ancestor that an algorithm already changed."""
    owners: Dict[int, str] = {}
    paths, modules = index.paths, index.modules
    parents = index.with_submodules()  # only these have parts to own
    for i, name in zip(parents, map(changed_by, map(modules.__getitem__, parents))):
        if name is None:
            continue
        prefix = paths[i] + "."
        j = i + 1
        while j < len(paths) and paths[j].startswith(prefix):
            owners.setdefault(j, f"part of {paths[i]!r}, which {name} already changed")
            j += 1
    return owners
