"""Putting a model back exactly as it was when a step fails.

A snapshot records, for every module, its attribute dict and the contents of its
containers (submodules, parameters, buffers, hooks), and for every tensor its
``requires_grad``, in-place version counter and data pointer. It holds references, never
copies of tensor data: algorithms replace modules and parameters rather than writing into
them, so the originals stay intact and restoring them is exact. A tensor written in place
(its version counter moved) or given new data (``p.data = ...``) is detected and reported;
a write through ``p.data`` moves no counter and cannot be seen.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple

from smashconfig.target_modules.tree import components, index_modules

if TYPE_CHECKING:
    import torch

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
        paths = ([""] if "" in roots else []) + index.paths
        modules = ([roots[""]] if "" in roots else []) + index.modules
        # each module's attribute dict as it was, and the contents of every non-empty container in it
        self._dicts: List[Tuple[Dict[str, Any], Dict[str, Any]]] = []
        self._contents: List[Tuple[Any, Any]] = []
        is_container: Dict[type, bool] = {}
        for module in modules:
            attributes = module.__dict__
            self._dicts.append((attributes, attributes.copy()))
            for value in attributes.values():
                kind = type(value)
                container = is_container.get(kind)
                if container is None:
                    container = is_container[kind] = issubclass(kind, _CONTAINERS)
                if container and value:
                    self._contents.append((value, value.copy()))
        self._tensors: List[Tuple[str, str, "torch.Tensor", bool, int, int]] = []
        seen = set()
        for path, module in zip(paths, modules):
            attributes = module.__dict__
            for tensors in (attributes["_parameters"], attributes["_buffers"]):
                for name, tensor in tensors.items():
                    if tensor is not None and id(tensor) not in seen:
                        seen.add(id(tensor))
                        self._tensors.append(
                            (path, name, tensor, tensor.requires_grad, tensor._version, _data_ptr(tensor))
                        )

    def restore(self) -> List[str]:
        """Put every module, container and flag back; returns the tensors whose data changed (if any)."""
        if self._attributes is not None:
            for name, value in self._attributes.items():
                setattr(self._model, name, value)
        for attributes, saved in self._dicts:
            for value in saved.values():
                if isinstance(value, _CONTAINERS):
                    value.clear()
            attributes.clear()
            attributes.update(saved)
        for container, contents in self._contents:
            if isinstance(container, list):
                container.extend(contents)
            else:
                container.update(contents)
        changed = []
        for path, name, tensor, requires_grad, version, pointer in self._tensors:
            if tensor.requires_grad != requires_grad:
                tensor.requires_grad_(requires_grad)
            if tensor._version != version or _data_ptr(tensor) != pointer:
                changed.append(f"{path}.{name}" if path else name)
        return changed


def _data_ptr(tensor: "torch.Tensor") -> int:
    """Where the tensor's data lives (0 on the meta device; -1 when it has none to give)."""
    try:
        return tensor.data_ptr()
    except Exception:  # an uninitialized lazy parameter raises ValueError, some subclasses RuntimeError
        return -1


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
