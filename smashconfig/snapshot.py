"""Putting a model back exactly as it was when a step fails.

A snapshot records, for every module, its attribute dict and the contents of its
containers (submodules, parameters, buffers, hooks), and for every tensor its
``requires_grad`` and in-place version counter. It holds references, never copies of tensor
data: algorithms replace modules and parameters rather than writing into them, so the
originals stay intact and restoring them is exact. A tensor written in place is detected by
its version counter and reported.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple

from smashconfig.target_modules.tree import components, index_modules

if TYPE_CHECKING:
    import torch
    from torch import nn

_CONTAINERS = (dict, set, list)


class ModelSnapshot:
    """References to everything needed to restore a model (or pipeline) in place."""

    def __init__(self, model: Any) -> None:
        with paused_gc():
            self._take(model)

    def _take(self, model: Any) -> None:
        self._model = model
        self._attributes: Optional[Dict[str, Any]] = None
        roots = components(model)
        if "" not in roots:
            self._attributes = {name: getattr(model, name) for name in roots}
        index = index_modules(model)
        pairs = ([("", roots[""])] if "" in roots else []) + list(zip(index.paths, index.modules))
        self._modules: List[Tuple["nn.Module", Dict[str, Tuple[Any, Any]]]] = [
            (module, _record(module.__dict__)) for _, module in pairs
        ]
        self._tensors: List[Tuple[str, "torch.Tensor", bool, int]] = []
        seen = set()
        for path, module in pairs:
            for kind in ("_parameters", "_buffers"):
                for name, tensor in module.__dict__[kind].items():
                    if tensor is not None and id(tensor) not in seen:
                        seen.add(id(tensor))
                        self._tensors.append((f"{path}.{name}" if path else name, tensor, tensor.requires_grad, tensor._version))

    def restore(self) -> List[str]:
        """Put every module, container and flag back; returns the tensors written in place (if any)."""
        if self._attributes is not None:
            for name, value in self._attributes.items():
                setattr(self._model, name, value)
        for module, recorded in self._modules:
            _restore(module.__dict__, recorded)
        changed = []
        for name, tensor, requires_grad, version in self._tensors:
            if tensor.requires_grad != requires_grad:
                tensor.requires_grad_(requires_grad)
            if tensor._version != version:
                changed.append(name)
        return changed


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while many small objects are made.

    Each automatic collection walks every object of a large model; during a snapshot it would
    run hundreds of times for nothing (nothing made here is garbage).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_EMPTY = ()


def _record(attributes: Dict[str, Any]) -> Dict[str, Tuple[Any, Any]]:
    """name → (value, a shallow copy of its contents when it is a container; ``_EMPTY`` when empty)."""
    return {
        name: (value, (value.copy() if value else _EMPTY) if isinstance(value, _CONTAINERS) else None)
        for name, value in attributes.items()
    }


def _restore(attributes: Dict[str, Any], recorded: Dict[str, Tuple[Any, Any]]) -> None:
    for name in [name for name in attributes if name not in recorded]:
        del attributes[name]
    for name, (value, contents) in recorded.items():
        if contents is not None:
            value.clear()
            if isinstance(value, list):
                value.extend(contents)
            else:
                value.update(contents)
        attributes[name] = value
