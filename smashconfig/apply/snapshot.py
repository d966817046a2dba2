"""Putting a model back exactly as it was when a step fails.

A snapshot records, for every module, its class, its attribute dict and the contents of its
containers (submodules, parameters, buffers, hooks), and for every tensor its
``requires_grad``, in-place version counter and data pointer. It records the same (class,
attribute dict, containers) for the plain objects the model and its modules hold, such as
``model.config`` and ``model.generation_config``, and for the objects those hold in turn
(``config.text_config``), a few levels deep. For a pipeline, the pipeline object itself is
such a plain object.

It holds references, never copies of tensor data: algorithms replace modules and parameters
rather than writing into them, so the originals stay intact and restoring them is exact. A
tensor written in place (its version counter moved) or given new data (``p.data = ...``) is
detected and reported; a write through ``p.data`` moves no counter and cannot be seen.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from itertools import compress
from operator import attrgetter, itemgetter, methodcaller
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Tuple

from smashconfig.target_modules.tree import ModuleIndex, components, index_modules

if TYPE_CHECKING:
    import torch

_CONTAINERS = (dict, set, list)
#: How far below a module the snapshot follows plain objects (``model.config.text_config`` is 2).
_OBJECT_DEPTH = 3
# what a value held in an attribute dict is, decided once per type
_OTHER, _CONTAINER, _OBJECT = 0, 1, 2


class ModelSnapshot:
    """References to everything needed to restore a model (or pipeline) in place."""

    def __init__(self, model: Any, index: Optional[ModuleIndex] = None) -> None:
        """``index``: the model's modules, when the caller has just indexed them."""
        with paused_gc():
            self._take(model, index if index is not None else index_modules(model))

    def _take(self, model: Any, index: ModuleIndex) -> None:
        import torch
        from torch import nn

        self._kinds: Dict[type, int] = {}
        self._skip = (nn.Module, torch.Tensor)
        # (object, its class, its attribute dict, a copy of that dict), modules first, then plain objects
        self._dicts: List[Tuple[Any, type, Dict[str, Any], Dict[str, Any]]] = []
        self._contents: List[Tuple[Any, Any]] = []
        self._seen_objects: set = set()
        self._seen_containers: set = set()
        roots = components(model)
        paths = ([""] if "" in roots else []) + index.paths
        modules = ([roots[""]] if "" in roots else []) + index.modules
        held = self._record_modules(paths, modules)
        if "" not in roots:  # a pipeline: its own attributes are restored like those of a held object
            held.append(model)
        for depth in range(_OBJECT_DEPTH):
            deeper: List[Any] = []
            for obj in held:
                if id(obj) not in self._seen_objects:
                    self._seen_objects.add(id(obj))
                    deeper.extend(self._record(obj))
            held = deeper
        del self._seen_objects, self._seen_containers, self._skip, self._kinds

    def _record_modules(self, paths: List[str], modules: List[Any]) -> List[Any]:
        """:meth:`_record` every module, and its tensors' flags; returns the plain objects they hold.

        The loop of :meth:`_record`, written out: it runs once per module of the model."""
        seen_containers = self._seen_containers
        add_dict, add_contents = self._dicts.append, self._contents.append
        names: List[Tuple[str, str]] = []  # (module path, tensor name) of each tensor, first holder only
        tensors: List["torch.Tensor"] = []
        add_name, add_tensor = names.append, tensors.append
        seen_tensors: set = set()
        held: List[Any] = []
        # modules of one class mostly hold the same types of values in the same order: which values
        # are containers and which plain objects is worked out once per such sequence of types
        layouts: Dict[Tuple[type, ...], Tuple[Callable[[List[Any]], Tuple[Any, ...]], ...]] = {}
        for path, module in zip(paths, modules):
            attributes = module.__dict__
            saved = attributes.copy()
            add_dict((module, type(module), attributes, saved))
            values = list(saved.values())
            types = tuple(map(type, values))
            layout = layouts.get(types)
            if layout is None:
                layout = layouts[types] = self._layout(values)
            containers, objects = layout[0](values), layout[1](values)
            for value in compress(containers, map(bool, containers)):
                if id(value) not in seen_containers:
                    seen_containers.add(id(value))
                    add_contents((value, value.copy()))
            held.extend(objects)
            for held_tensors in (saved["_parameters"], saved["_buffers"]):
                if held_tensors:
                    for name, tensor in held_tensors.items():
                        if tensor is not None and id(tensor) not in seen_tensors:
                            seen_tensors.add(id(tensor))
                            add_name((path, name))
                            add_tensor(tensor)
        self._tensors = _TensorFlags(names, tensors)
        return held

    def _layout(self, values: List[Any]) -> Tuple[Callable[[List[Any]], Tuple[Any, ...]], ...]:
        """Two functions picking, out of an attribute dict's values in this order of types, the
        containers and the plain objects."""
        kinds = [self._kind_of(value) for value in values]
        return tuple(_picker([k for k, kind in enumerate(kinds) if kind == wanted]) for wanted in (_CONTAINER, _OBJECT))

    def _kind_of(self, value: Any) -> int:
        kind = self._kinds.get(type(value))
        if kind is None:
            kind = self._kinds[type(value)] = self._kind(value)
        return kind

    def _record(self, obj: Any) -> List[Any]:
        """Record ``obj``'s class, attribute dict and non-empty containers; return the plain objects it holds."""
        attributes = obj.__dict__
        self._dicts.append((obj, type(obj), attributes, attributes.copy()))
        held = []
        for value in attributes.values():
            kind = self._kind_of(value)
            if kind == _CONTAINER:
                if value and id(value) not in self._seen_containers:
                    self._seen_containers.add(id(value))
                    self._contents.append((value, value.copy()))
            elif kind == _OBJECT:
                held.append(value)
        return held

    def _kind(self, value: Any) -> int:
        if isinstance(value, _CONTAINERS):
            return _CONTAINER
        # a configuration-like object: not callable (no module, class, function or hook), with attributes
        if isinstance(getattr(value, "__dict__", None), dict) and not callable(value) and not isinstance(value, self._skip):
            return _OBJECT
        return _OTHER

    def restore(self) -> List[str]:
        """Put every module, object, container, class and flag back; returns the tensors whose data changed."""
        for obj, cls, attributes, saved in self._dicts:
            for value in saved.values():
                if isinstance(value, _CONTAINERS):
                    value.clear()
            attributes.clear()
            attributes.update(saved)
            if type(obj) is not cls:
                obj.__class__ = cls
        for container, contents in self._contents:
            if isinstance(container, list):
                container.extend(contents)
            else:
                container.update(contents)
        changed = []
        for (path, name), tensor, requires_grad, version, pointer in self._tensors:
            if tensor.requires_grad != requires_grad:
                tensor.requires_grad_(requires_grad)
            if tensor._version != version or _data_ptr(tensor) != pointer:
                changed.append(f"{path}.{name}" if path else name)
        return changed


class _TensorFlags:
    """Each tensor's ``requires_grad``, version counter and data pointer, read in C-level passes."""

    def __init__(self, names: List[Tuple[str, str]], tensors: List["torch.Tensor"]) -> None:
        self.names, self.tensors = names, tensors
        self.requires_grad = list(map(attrgetter("requires_grad"), tensors))
        self.versions = list(map(attrgetter("_version"), tensors))
        try:
            self.pointers = list(map(methodcaller("data_ptr"), tensors))
        except Exception:  # a lazy parameter or a subclass without storage: one by one
            self.pointers = [_data_ptr(tensor) for tensor in tensors]

    def __iter__(self) -> Iterator[Tuple[Tuple[str, str], "torch.Tensor", bool, int, int]]:
        return zip(self.names, self.tensors, self.requires_grad, self.versions, self.pointers)


def _picker(positions: List[int]) -> Callable[[List[Any]], Tuple[Any, ...]]:
    """A function returning the items of a list at ``positions``, as a tuple."""
    if not positions:
        return lambda values: ()
    if len(positions) == 1:
        k = positions[0]
        return lambda values: (values[k],)
    return itemgetter(*positions)


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
