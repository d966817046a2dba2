"""``SmashConfig``: which algorithms to apply, with which hyperparameters, to which modules.

A dict-like object validated on every change against the ConfigurationSpace of the registered
algorithms. Every change is checked in full before it is made: a refused
change leaves the config exactly as it was. Each config owns its values; nothing is shared.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple, Union

from smashconfig.errors import (
    InactiveAlgorithmError,
    SmashConfigError,
    WrongTypeError,
    describe,
)
from smashconfig.contract.hyperparameters import default_of
from smashconfig.config.changes import apply_changes, canonical, names_algorithm, require_active, spec_of
from smashconfig.contract.registry import KeySpec, Registry, default_registry

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

    from smashconfig.target_modules.normalize import TARGET_MODULES_TYPE

AlgorithmsSpec = Union[str, Iterable[str], Mapping[str, Any]]
"""What :meth:`SmashConfig.add` takes: a name, names, or ``{name: {hyperparameter: value}}``."""


class SmashConfig(MutableMapping):
    """Which algorithms to apply, with which hyperparameters, to which modules.

    Keys are group keys (``"quantizer"``, ``"adapter"``: the selected algorithm or ``None``) and
    hyperparameter keys ``"<algorithm>_<hyperparameter>"`` (``"quanto_weight_bits"``). Iteration
    lists the selected groups and every hyperparameter of the active algorithms.
    """

    def __init__(self, algorithms: Optional[AlgorithmsSpec] = None, *, registry: Optional[Registry] = None) -> None:
        self._registry: Registry = registry if registry is not None else default_registry()
        self._values: Dict[str, Any] = {}
        self._space_copy: Optional[Tuple["ConfigurationSpace", "ConfigurationSpace"]] = None
        self._active: Optional[Tuple[Dict[str, Any], "ConfigurationSpace", frozenset]] = None
        if algorithms is not None:
            self.add(algorithms)

    # ----- mapping protocol ------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        if self._is_algorithm(key):
            return self._values.get(self._registry.get(key).group) == key
        spec = spec_of(self._registry, key)
        if spec.is_group:
            return self._values.get(key)
        require_active(spec, "read", self._values)
        if key not in self._active_hyperparameters():
            from smashconfig.config.space import _conditions_text

            raise InactiveAlgorithmError(
                f"cannot read {key!r}: it is inactive with the current values; it applies only when "
                f"{_conditions_text(self._registry, key)}.",
                key=key,
            )
        return copy.deepcopy(self._values.get(key, default_of(spec.hyperparameter)))

    def __setitem__(self, key: str, value: Any) -> None:
        self._commit(self._with(dict(self._values), [(key, value)]), [key])

    def update(self, other: Any = (), /, **kwargs: Any) -> None:  # type: ignore[override]
        """Set several keys at once, all or nothing: group keys first, then hyperparameters."""
        try:
            changes = list(dict(other, **kwargs).items())
        except (TypeError, ValueError):
            raise WrongTypeError(
                f"update() takes a mapping of config keys to values, or (key, value) pairs; got {describe(other)}."
            ) from None
        changes.sort(key=lambda change: not (self._is_algorithm(change[0]) or spec_of(self._registry, change[0]).is_group))
        self._commit(self._with(dict(self._values), changes), [key for key, _ in changes])

    def __delitem__(self, key: str) -> None:
        if self._is_algorithm(key):
            self[key] = False
            return
        spec = spec_of(self._registry, key)
        if spec.is_group:
            self[key] = None
            return
        require_active(spec, "reset", self._values)
        values = dict(self._values)
        values.pop(key, None)
        self._commit(values)

    def __iter__(self) -> Iterator[str]:
        return iter(self._active_keys())

    def __len__(self) -> int:
        return len(self._active_keys())

    def __contains__(self, key: object) -> bool:
        return key in self._active_keys()

    # ----- algorithms ------------------------------------------------------------------------------

    @property
    def active_algorithms(self) -> List[str]:
        """The selected algorithms, in the order ``smash`` applies them."""
        selected = {self._values[g] for g in self._registry.groups() if self._values.get(g) is not None}
        return [name for name in self._registry.algorithms() if name in selected]

    def add(self, algorithms: AlgorithmsSpec) -> "SmashConfig":
        """Activate algorithms, optionally with hyperparameters; returns the config.

        ``cfg.add("quanto")``, ``cfg.add(["quanto", "lora"])``,
        ``cfg.add({"quanto": {"weight_bits": "qint4"}})`` (or ``{"quanto": {"quanto_weight_bits": ...}}``),
        and keys as in item assignment: ``cfg.add({"quanto_target_modules": {...}})``. Adding an
        active algorithm again keeps its values and updates the ones given.
        """
        from smashconfig.config.from_dict import add_changes

        changes = add_changes(algorithms, self._values, self._registry)
        self._commit(self._with(dict(self._values), changes), [key for key, _ in changes])
        return self

    def remove(self, algorithms: Union[str, Iterable[str]]) -> "SmashConfig":
        """Deactivate algorithms (their hyperparameter values are dropped); returns the config."""
        if isinstance(algorithms, str):
            names = [algorithms]
        elif isinstance(algorithms, Iterable) and not isinstance(algorithms, (bytes, bytearray, Mapping)):
            names = list(algorithms)
        else:
            names = [algorithms]
        for name in names:
            if not isinstance(name, str):
                raise WrongTypeError(
                    f"remove() takes an algorithm name or a list of names, such as 'lora'; got {describe(name)}."
                )
        values = dict(self._values)
        for name in names:
            algorithm = self._registry.get(name)
            if values.get(algorithm.group) == name:
                values = self._with(values, [(algorithm.group, None)])
        self._commit(values)
        return self

    @property
    def registry(self) -> Registry:
        """The registry this config was made with; planning, smashing and saving use it."""
        return self._registry

    # ----- space -----------------------------------------------------------------------------------

    @property
    def space(self) -> "ConfigurationSpace":
        """The ConfigurationSpace of all registered algorithms (this config's own copy, renewed when the
        registry changes)."""
        shared = self._registry.space()
        if self._space_copy is None or self._space_copy[0] is not shared:
            self._space_copy = (shared, copy.deepcopy(shared))
        return self._space_copy[1]

    # ----- conversion ------------------------------------------------------------------------------

    def to_dict(self, defaults: bool = True) -> Dict[str, Dict[str, Any]]:
        """The canonical nested form ``{algorithm: {hyperparameter: value}}``, in ``smash`` order.

        ``target_modules`` appear in normal form (both keys, lists), while ``cfg[key]`` gives them
        back as they were set.

        With ``defaults=False`` only the values that were set are listed.
        """
        keys = self._registry.keys()
        active = self._active_hyperparameters()
        out: Dict[str, Dict[str, Any]] = {}
        for name in self.active_algorithms:
            params: Dict[str, Any] = {}
            for hp_name in self._registry.key_names(name):
                key = f"{name}_{hp_name}"
                if key not in active:
                    continue
                if key in self._values:
                    params[hp_name] = canonical(keys[key], self._values[key])
                elif defaults:
                    params[hp_name] = default_of(keys[key].hyperparameter)
            out[name] = params
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, registry: Optional[Registry] = None) -> "SmashConfig":
        """A config from the nested form (``{"quanto": {...}}``) or flat keys (``{"quantizer": "quanto"}``)."""
        from smashconfig.config.from_dict import entries_from_dict

        config = cls(registry=registry)
        values: Dict[str, Any] = {}
        entries = entries_from_dict(d, config._registry)
        for entry in entries:
            try:
                config._with(values, [(entry.key, entry.value)])
            except SmashConfigError as error:
                error.location = error.location or entry.location
                raise
        try:
            config._commit(values, [entry.key for entry in entries])
        except SmashConfigError as error:
            located = [entry.location for entry in entries if entry.key == error.key]
            error.location = error.location or (located[0] if located else None)
            raise
        return config

    def to_yaml(self, path: Union[str, Path, None] = None) -> str:
        """The config as YAML text (nested form); also written to ``path`` when given."""
        from smashconfig.config.files import dump_yaml

        return dump_yaml(self.to_dict(), path)

    @classmethod
    def from_yaml(cls, path_or_text: Union[str, Path]) -> "SmashConfig":
        """A config from a YAML file (a ``Path`` or a string naming an existing file) or YAML text."""
        from smashconfig.config.files import load_config

        return load_config(path_or_text, "yaml", cls.from_dict)

    def to_json(self, path: Union[str, Path, None] = None) -> str:
        """The config as JSON text (nested form); also written to ``path`` when given."""
        from smashconfig.config.files import dump_json

        return dump_json(self.to_dict(), path)

    @classmethod
    def from_json(cls, path_or_text: Union[str, Path]) -> "SmashConfig":
        """A config from a JSON file (a ``Path`` or a string naming an existing file) or JSON text."""
        from smashconfig.config.files import load_config

        return load_config(path_or_text, "json", cls.from_dict)

    def copy(self) -> "SmashConfig":
        """An independent copy: changing one never changes the other."""
        other = type(self)()
        other._registry = self._registry
        other._values = copy.deepcopy(self._values)
        return other

    def __copy__(self) -> "SmashConfig":
        return self.copy()

    def __deepcopy__(self, memo: Dict[int, Any]) -> "SmashConfig":
        return self.copy()

    def __reduce__(self) -> Tuple[Any, Tuple[Dict[str, Dict[str, Any]]]]:
        """Pickle as the values that were set, checked again when unpickled."""
        return (type(self).from_dict, (self.to_dict(defaults=False),))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SmashConfig):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict(defaults=False)!r})"

    # ----- models ----------------------------------------------------------------------------------

    def resolve_target_modules(self, model: Any, *, strict: bool = False) -> Dict[str, "TARGET_MODULES_TYPE"]:
        """For each active algorithm, the ``target_modules`` that ``smash`` will use on ``model``.

        The user's value in normal form, or, where it is ``None``, the one inferred from the model.
        Patterns the user wrote are checked against the model: each classic mistake is a
        :class:`~smashconfig.errors.TargetPatternWarning` (an error under ``strict=True``).
        """
        from smashconfig.config.targets import resolve_target_modules

        return resolve_target_modules(self, model, strict=strict)

    def params(self, algorithm: str) -> Dict[str, Any]:
        """Every hyperparameter of an active algorithm, unprefixed, defaults filled in."""
        return dict(self.to_dict()[self._active_name(algorithm)])

    # ----- internals -------------------------------------------------------------------------------

    def _is_algorithm(self, key: Any) -> bool:
        """Whether ``key`` names an algorithm (``cfg["quanto"] = True`` activates it, as in pruna)."""
        return names_algorithm(self._registry, key)

    def _active_name(self, name: str) -> str:
        algorithm = self._registry.get(name)
        if self._values.get(algorithm.group) != name:
            raise InactiveAlgorithmError(
                f"algorithm {name!r} is not active; activate it with cfg.add({name!r}).", key=name
            )
        return name

    def _active_keys(self) -> List[str]:
        keys: List[str] = []
        for group in self._registry.groups():
            if self._values.get(group) is not None:
                keys.append(group)
        active = self._active_hyperparameters()
        for name in self.active_algorithms:
            names = self._registry.key_names(name)
            keys.extend(key for key in (f"{name}_{hp}" for hp in names) if key in active)
        return keys

    def _active_hyperparameters(self) -> frozenset:
        """The active keys of this config's values (kept until the values or the registry change)."""
        from smashconfig.config.space import active_keys

        space = self._registry.space()
        cached = self._active
        if cached is None or cached[0] is not self._values or cached[1] is not space:
            cached = self._active = (self._values, space, frozenset(active_keys(self._registry, self._values)))
        return cached[2]

    def _with(self, values: Dict[str, Any], changes: List[Tuple[str, Any]]) -> Dict[str, Any]:
        """``values`` with ``changes`` applied in order, each checked; ``values`` is modified and returned."""
        return apply_changes(self._registry, values, changes)

    def _commit(self, values: Dict[str, Any], explicitly_set: Iterable[str] = ()) -> None:
        """Check ``values`` as a whole against the space, then make them this config's values."""
        from smashconfig.config.space import settle

        self._values = settle(self._registry, values, explicitly_set)
