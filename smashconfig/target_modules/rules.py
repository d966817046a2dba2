"""What deciding targets needs to know of an algorithm, without depending on the algorithm contract.

:class:`~smashconfig.Algorithm` provides all of it; the target floor sees only this protocol.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, Tuple

ChangedBy = Callable[[Any], Optional[str]]
"""A module → the name of the algorithm that already changed it (``None`` when none did)."""


class TargetRules(Protocol):
    """Which leaf modules an algorithm acts on, and which it selects by default."""

    name: str
    supports: str

    def skip_reason(self, path: str, module: Any, params: Mapping[str, Any]) -> Optional[str]:
        """Why a targeted leaf is not acted on, or ``None`` when it is."""

    def selected_by_default(self, path: str, module: Any) -> bool:
        """Whether inferred defaults include this leaf."""

    def default_params(self) -> Dict[str, Any]:
        """Every hyperparameter at its default."""


def no_module_changed(module: Any) -> Optional[str]:
    """The :data:`ChangedBy` that knows of no algorithm."""
    return None


class RulesLookup(Protocol):
    """Finds an algorithm by name and tells which algorithm changed a module (a registry does both)."""

    def get(self, name: str) -> Any: ...

    def changed_by(self, module: Any) -> Optional[str]: ...


ENTRY_POINT_GROUP = "smashconfig.algorithms"
"""The entry-point group every algorithm, built-in or third-party, is declared in."""


def declared_algorithms() -> Dict[str, Any]:
    """Entry-point name → entry point, for every installed algorithm (nothing is imported)."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


class InstalledAlgorithms:
    """A :class:`RulesLookup` over the installed algorithms' entry points, for callers without a registry.

    The entry points are read once per instance (a lookup made for one call), not once per module."""

    def __init__(self) -> None:
        self._loaded: Dict[str, Any] = {}
        self._declared: Optional[Dict[str, Any]] = None
        self._recognisers: Optional[List[Tuple[str, Any]]] = None

    def declared(self) -> Dict[str, Any]:
        if self._declared is None:
            self._declared = declared_algorithms()
        return self._declared

    def get(self, name: str) -> Any:
        if name not in self._loaded:
            declared = self.declared()
            if not isinstance(name, str) or name not in declared:
                from smashconfig.errors import UnknownAlgorithmError
                from smashconfig.text.didyoumean import did_you_mean

                raise UnknownAlgorithmError(
                    f"unknown algorithm {name!r}; the installed algorithms are {', '.join(map(repr, sorted(declared)))}. "
                    "An algorithm registered at run time is passed as the object, or with registry=."
                    + (did_you_mean(name, declared) if isinstance(name, str) else ""),
                    key=name if isinstance(name, str) else None,
                )
            loaded = declared[name].load()
            self._loaded[name] = loaded() if isinstance(loaded, type) else loaded
        return self._loaded[name]

    def changed_by(self, module: Any) -> Optional[str]:
        if self._recognisers is None:
            self._recognisers = []
            for name in self.declared():
                try:
                    self._recognisers.append((name, self.get(name).is_changed))
                except Exception:  # a broken plugin says nothing about any module
                    continue
        for name, is_changed in self._recognisers:
            if is_changed(module):
                return name
        return None
