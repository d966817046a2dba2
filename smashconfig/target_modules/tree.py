"""The modules of a model (or of a pipeline-like object) and their dotted paths.

A module's path is its name in ``model.named_modules()``; the root has no path and is never
listed. For an object that is not an ``nn.Module`` but holds ``nn.Module`` attributes (a
diffusers-style pipeline), each such attribute is a component: its path is the attribute name
and its submodules' paths are prefixed with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

from smashconfig.errors import ModelTypeError

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ModuleIndex:
    """Every module of a model in ``named_modules()`` order, each module listed once."""

    paths: List[str]
    modules: List["nn.Module"]
    _positions: Dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.paths)

    def position(self, path: str) -> int:
        """Index of ``path``; ``KeyError`` if the model has no such module."""
        if not self._positions:
            self._positions.update(zip(self.paths, range(len(self.paths))))
        return self._positions[path]

    def __contains__(self, path: object) -> bool:
        try:
            self.position(path)  # type: ignore[arg-type]
        except KeyError:
            return False
        return True

    def module(self, path: str) -> "nn.Module":
        return self.modules[self.position(path)]

    def is_container(self, i: int) -> bool:
        """Whether the module at index ``i`` has submodules."""
        return bool(self.modules[i]._modules)


def components(model: Any) -> Dict[str, "nn.Module"]:
    """The roots to walk: ``{"": model}`` for a module, ``{attribute: module}`` for a pipeline."""
    from torch import nn

    if isinstance(model, nn.Module):
        return {"": model}
    found = {
        name: value
        for name, value in getattr(model, "__dict__", {}).items()
        if isinstance(value, nn.Module) and not name.startswith("_")
    }
    if not found:
        raise ModelTypeError(
            f"model must be a torch.nn.Module or an object whose attributes are nn.Modules (a pipeline); "
            f"got a {type(model).__name__} with no nn.Module attribute."
        )
    return found


def index_modules(model: Any) -> ModuleIndex:
    """All module paths of ``model`` (root excluded), in ``named_modules()`` order, each module once."""
    paths: List[str] = []
    modules: List[nn.Module] = []
    seen: set = set()
    for name, root in components(model).items():
        if name:
            if root in seen:
                continue
            seen.add(root)
            paths.append(name)
            modules.append(root)
            _walk(root, name + ".", paths, modules, seen)
        else:
            seen.add(root)
            _walk(root, "", paths, modules, seen)
    return ModuleIndex(paths, modules)


def _walk(root: "nn.Module", prefix: str, paths: List[str], modules: list, seen: set) -> None:
    """Pre-order walk of ``root``'s submodules, iterative (deep models do not hit the recursion limit).

    Modules are kept in a set by identity, as ``named_modules()`` does.
    """
    add, add_path, add_module = seen.add, paths.append, modules.append
    stack = [(iter(root._modules.items()), prefix)]
    push, pop = stack.append, stack.pop
    while stack:
        items, prefix = stack[-1]
        for name, child in items:
            if child is None or child in seen:
                continue
            add(child)
            path = prefix + name
            add_path(path)
            add_module(child)
            children = child._modules
            if children:
                push((iter(children.items()), path + "."))
                break
        else:
            pop()


def get_module(model: Any, path: str) -> "nn.Module":
    """The module at ``path`` (a component name for a pipeline)."""
    roots = components(model)
    if "" in roots:
        return roots[""].get_submodule(path)
    head, _, rest = path.partition(".")
    return roots[head].get_submodule(rest) if rest else roots[head]


class ModuleSlots:
    """Where each path's module sits (its parent and attribute name), parents looked up once each.

    For replacing many modules: siblings share one parent lookup instead of walking from the root
    for every path, and the replacement goes through the parent's ``setattr`` as usual.
    """

    def __init__(self, model: Any) -> None:
        self._model = model
        self._parents: Dict[str, Any] = {}

    def slot(self, path: str) -> Tuple[Any, str]:
        """(parent, attribute name) of the module at ``path``."""
        parent_path, _, name = path.rpartition(".")
        parent = self._parents.get(parent_path)
        if parent is None:
            parent = get_module(self._model, parent_path) if parent_path else self._model
            self._parents[parent_path] = parent
        return parent, name

    def get(self, path: str) -> "nn.Module":
        parent, name = self.slot(path)
        return getattr(parent, name)

    def set(self, path: str, module: "nn.Module") -> None:
        parent, name = self.slot(path)
        had_children = bool(getattr(getattr(parent, name, None), "_modules", None))
        setattr(parent, name, module)
        if had_children:  # parents cached under the replaced module belong to the old one
            stale = path + "."
            self._parents = {p: m for p, m in self._parents.items() if p != path and not p.startswith(stale)}
