"""The modules of a model (or of a pipeline-like object) and their dotted paths.

A module's path is its name in ``model.named_modules()``; the root has no path and is never
listed. For an object that is not an ``nn.Module`` but holds ``nn.Module`` attributes (a
diffusers-style pipeline), each such attribute is a component: its path is the attribute name
and its submodules' paths are prefixed with it.
"""

from __future__ import annotations

import heapq
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from smashconfig.errors import ModelTypeError

if TYPE_CHECKING:
    from torch import nn


MAX_ALIASES = 10_000
"""Most extra paths recorded for shared modules (sharing nested in sharing multiplies paths)."""


@dataclass(frozen=True)
class ModuleIndex:
    """Every module of a model in ``named_modules()`` order, each module listed once.

    ``parents[i]`` is the position of module ``i``'s parent (-1 for a top-level module) when
    the index comes from :func:`index_modules`. A module reachable at several paths (shared)
    is listed once, at its ``named_modules()`` path; ``aliases`` maps each of its other paths
    to its position.
    """

    paths: List[str]
    modules: List["nn.Module"]
    _positions: Dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    parents: List[int] = field(default_factory=list, repr=False, compare=False)
    aliases: Dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    branches: Optional[List[int]] = field(default=None, repr=False, compare=False)
    """Positions of the modules with submodules (``_modules`` not empty), ascending, when the index
    comes from :func:`index_modules`; see :meth:`with_submodules`."""

    def __len__(self) -> int:
        return len(self.paths)

    def position(self, path: str) -> int:
        """Index of the module at ``path`` (an alias path too); ``KeyError`` if the model has no such module."""
        if not self._positions:
            self._positions.update(zip(self.paths, range(len(self.paths))))
        found = self._positions.get(path)
        if found is None:
            return self.aliases[path]
        return found

    def __contains__(self, path: object) -> bool:
        try:
            self.position(path)  # type: ignore[arg-type]
        except (KeyError, TypeError):
            return False
        return True

    def module(self, path: str) -> "nn.Module":
        return self.modules[self.position(path)]

    def with_submodules(self) -> List[int]:
        """Positions of the modules with submodules (``_modules`` not empty), ascending."""
        if self.branches is not None:
            return self.branches
        return [i for i, module in enumerate(self.modules) if module._modules]

    def is_container(self, i: int) -> bool:
        """Whether the module at index ``i`` has submodules."""
        return bool(self.modules[i]._modules)

    def paths_of(self, i: int) -> List[str]:
        """Every path of the module at index ``i``: its own first, then its aliases."""
        return [self.paths[i]] + [alias for alias, j in self.aliases.items() if j == i]


def _unwrap(model: Any) -> Any:
    """The object behind a ``weakref.proxy`` (a bound method's ``__self__`` is the referent)."""
    if isinstance(model, (weakref.ProxyType, weakref.CallableProxyType)):
        return model.__init__.__self__
    return model


def components(model: Any) -> Dict[str, "nn.Module"]:
    """The roots to walk: ``{"": model}`` for a module, ``{attribute: module}`` for a pipeline."""
    from torch import nn

    model = _unwrap(model)
    if isinstance(model, nn.Module):
        return {"": model}
    found = {
        name: _unwrap(value)
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
    return index_with_states(model, None)[0]


def index_with_states(model: Any, automaton: Any) -> Tuple[ModuleIndex, List[int]]:
    """:func:`index_modules`, and each module's state in ``automaton`` (a ``GlobAutomaton``), in one walk.

    A module's state is its parent's stepped over ``"." + name`` (``automaton.transitions``
    memoises those steps), so matching costs about one dictionary lookup per module.
    """
    walk = _Walk(automaton)
    for name, root in components(model).items():
        if not name:
            walk.seen.add(root)
            walk.run(root, "", -1, None)
        elif root in walk.seen:
            walk.shared.append((name, root))
        else:
            walk.seen.add(root)
            state = None
            if automaton is not None:
                state = automaton.run(name)
                walk.states.append(state)
            walk.paths.append(name)
            walk.modules.append(root)
            walk.parents.append(-1)
            if root._modules:
                walk.branches.append(len(walk.paths) - 1)
            walk.run(root, name + ".", len(walk.paths) - 1, state)
    aliases = _alias_paths(walk.paths, walk.modules, walk.shared)
    index = ModuleIndex(walk.paths, walk.modules, parents=walk.parents, aliases=aliases, branches=walk.branches)
    return index, walk.states


class _Walk:
    """Pre-order walk of submodules, iterative (deep models do not hit the recursion limit).

    Modules are kept by identity, as ``named_modules()`` does; a module met again is recorded in
    ``shared`` as (its other path, the module).
    """

    def __init__(self, automaton: Any) -> None:
        self.automaton = automaton
        self.paths: List[str] = []
        self.modules: List[nn.Module] = []
        self.parents: List[int] = []
        self.branches: List[int] = []
        self.states: List[int] = []
        self.seen: set = {None}  # a None child is skipped by the test for modules already seen
        self.shared: List[Tuple[str, nn.Module]] = []

    def run(self, root: "nn.Module", prefix: str, position: int, state: Optional[int]) -> None:
        """Walk ``root``'s submodules; ``prefix`` is ``root``'s path and a dot, ``position`` its index."""
        automaton, seen, note_shared = self.automaton, self.seen, self.shared.append
        add_path, add_module, add_parent = self.paths.append, self.modules.append, self.parents.append
        add_seen, add_state, add_branch = seen.add, self.states.append, self.branches.append
        child_state = automaton.child if automaton is not None else None
        by_state = automaton.by_state if automaton is not None else None
        steps = automaton.transitions(state) if automaton is not None else None
        here = None  # the state of the module just listed (stays None without an automaton)
        # the frame being walked lives in locals; the frames above it wait on the stack
        items = iter(root._modules.items())
        stack = []
        push, pop = stack.append, stack.pop
        size = len(seen)  # adding a module seen already (or None) leaves the set's size as it was: one lookup each
        while True:
            for name, child in items:
                add_seen(child)
                if len(seen) == size:
                    if child is not None:
                        note_shared((prefix + name, child))
                    continue
                size += 1
                path = prefix + name
                add_path(path)
                add_module(child)
                add_parent(position)
                if steps is not None:
                    here = steps.get(name)
                    if here is None:
                        here = child_state(state, name)
                    add_state(here)
                children = child._modules
                if children:
                    push((items, prefix, position, state, steps))
                    items, prefix, position, state = iter(children.items()), path + ".", len(self.paths) - 1, here
                    add_branch(position)
                    if steps is not None:
                        steps = by_state[here]
                    break
            else:
                if not stack:
                    return
                items, prefix, position, state, steps = pop()


def _alias_paths(paths: List[str], modules: List["nn.Module"], shared: List[Tuple[str, Any]]) -> Dict[str, int]:
    """Every other path of each shared module and of the modules inside it (at most :data:`MAX_ALIASES`)."""
    if not shared:
        return {}
    position_of = {id(module): k for k, module in enumerate(modules)}
    found = [(alias, position_of[id(module)]) for alias, module in shared if id(module) in position_of]
    aliases: Dict[str, int] = {}
    queue = [(len(alias), alias, position) for alias, position in found]
    heapq.heapify(queue)  # shortest paths first: they are the ones kept when there are too many
    n = len(paths)
    while queue and len(aliases) < MAX_ALIASES:
        _, alias, position = heapq.heappop(queue)
        if alias in aliases:
            continue
        aliases[alias] = position
        inside = paths[position] + "."
        more = []
        j = position + 1
        while j < n and paths[j].startswith(inside):
            more.append((alias + paths[j][len(inside) - 1 :], j))
            j += 1
        more.extend((alias + other[len(inside) - 1 :], k) for other, k in found if other.startswith(inside))
        for path, k in more:
            heapq.heappush(queue, (len(path), path, k))
    return aliases


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
    for every path, and the replacement goes through the parent's ``setattr`` as usual. A module
    shared between several paths is replaced at every one of them, so it stays shared.
    """

    def __init__(self, model: Any) -> None:
        self._model = _unwrap(model)
        self._parents: Dict[str, Any] = {}
        self._others: Optional[Dict[int, List[str]]] = None

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
        """Put ``module`` at ``path``, and at every other path of the module that was there."""
        if self._others is None:  # the model's shared modules, as they are before any replacement
            index = index_modules(self._model)
            self._others = {}
            for alias, position in index.aliases.items():
                self._others.setdefault(id(index.modules[position]), [index.paths[position]]).append(alias)
        old = self.get(path)
        self._put(path, module)
        for other in self._others.get(id(old), ()):
            if other != path and self.get(other) is old:
                self._put(other, module)

    def _put(self, path: str, module: "nn.Module") -> None:
        parent, name = self.slot(path)
        had_children = bool(getattr(getattr(parent, name, None), "_modules", None))
        setattr(parent, name, module)
        if had_children:  # parents cached under the replaced module belong to the old one
            stale = path + "."
            self._parents = {p: m for p, m in self._parents.items() if p != path and not p.startswith(stale)}
