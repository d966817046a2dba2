"""The algorithms smashconfig knows: built-ins and third-party ones, registered the same way.

Algorithms come from entry points in the group ``smashconfig.algorithms`` (the built-ins
``quanto``, ``lora`` and ``torchao`` declare theirs in pyproject.toml: that is the one list of
them) and from :func:`register_algorithm` at run time. The registry builds the
ConfigurationSpace of all of them, once per change. A config carries the registry it was made
with, and planning, smashing, saving and explaining use that one.
"""

from __future__ import annotations

import keyword
import logging
import re
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Type, TypeVar, Union

from smashconfig.contract.algorithm import Algorithm
from smashconfig.contract.hyperparameters import SHARED
from smashconfig.contract.keys import KeySpec, build_space, keys_of
from smashconfig.errors import RegistryError, UnknownAlgorithmError
from smashconfig.target_modules.rules import declared_algorithms
from smashconfig.text.didyoumean import did_you_mean

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace
    from ConfigSpace.hyperparameters import Hyperparameter

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

A = TypeVar("A", bound=Union[Type[Algorithm], Algorithm])


class Registry:
    """Registered algorithms by name, and the ConfigurationSpace built from them."""

    def __init__(self, *, discover: bool = True) -> None:
        self._algorithms: Dict[str, Algorithm] = {}
        self._hyperparameters: Dict[str, List["Hyperparameter"]] = {}
        self._discover = discover
        self._lock = threading.RLock()
        self._recognising: Optional[Tuple[Dict[str, Algorithm], List[Any]]] = None
        self._conditioned: Optional[Tuple[Dict[str, Algorithm], bool]] = None
        self._space: Optional["ConfigurationSpace"] = None
        self._keys: Optional[Dict[str, KeySpec]] = None

    # ----- lookup ------------------------------------------------------------------------------------

    def algorithms(self) -> Dict[str, Algorithm]:
        """Every registered algorithm by name, in the order ``smash`` applies them."""
        self._load()
        ordered = sorted(self._algorithms.values(), key=Algorithm.sort_key)
        return {a.name: a for a in ordered}

    def get(self, name: str) -> Algorithm:
        """The algorithm called ``name``; a did-you-mean error if there is none."""
        self._load()
        try:
            return self._algorithms[name]
        except (KeyError, TypeError):
            raise UnknownAlgorithmError(
                f"unknown algorithm {name!r}; the algorithms are {', '.join(map(repr, self.algorithms()))}."
                + (did_you_mean(name, self._algorithms) if isinstance(name, str) else ""),
                key=name if isinstance(name, str) else None,
            ) from None

    def groups(self) -> Dict[str, List[str]]:
        """Group name → names of its algorithms, groups in ``smash`` order."""
        groups: Dict[str, List[str]] = {}
        for algorithm in self.algorithms().values():
            groups.setdefault(algorithm.group, []).append(algorithm.name)
        return groups

    def hyperparameter_names(self, name: str) -> List[str]:
        """Unprefixed names of algorithm ``name``'s own hyperparameters, in declaration order."""
        self.get(name)
        return [hp.name for hp in self._hyperparameters[name]]

    def key_names(self, name: str) -> List[str]:
        """Every unprefixed key of algorithm ``name``: its own hyperparameters, then ``target_modules``, ``overrides``."""
        return self.hyperparameter_names(name) + list(SHARED)

    def changed_by(self, module: Any) -> Optional[str]:
        """The name of the registered algorithm that produced ``module`` (see ``Algorithm.is_changed``), or ``None``."""
        for name, is_changed in self._recognisers():
            if is_changed(module):
                return name
        return None

    def _recognisers(self) -> List[Any]:
        """(name, ``is_changed``) of the algorithms that recognise modules they changed (override it)."""
        self._load()
        algorithms = self._algorithms
        if self._recognising is None or self._recognising[0] is not algorithms:
            found = [(n, a.is_changed) for n, a in algorithms.items() if type(a).is_changed is not Algorithm.is_changed]
            self._recognising = (algorithms, found)
        return self._recognising[1]

    def space(self) -> "ConfigurationSpace":
        """The ConfigurationSpace of all registered algorithms; treat it as read-only."""
        self._load()
        if self._space is None:
            self._space = build_space(self)
        return self._space

    def has_inner_conditions(self) -> bool:
        """Whether any algorithm conditions its hyperparameters on each other (beyond its selection)."""
        self._load()
        algorithms = self._algorithms
        if self._conditioned is None or self._conditioned[0] is not algorithms:
            self._conditioned = (algorithms, any(algorithm.conditions() for algorithm in algorithms.values()))
        return self._conditioned[1]

    def keys(self) -> Dict[str, KeySpec]:
        """Every flat config key (group keys and ``<algorithm>_<hyperparameter>``), read off the space."""
        if self._keys is None:
            self._keys = keys_of(self.space(), self)
        return self._keys

    # ----- changes -----------------------------------------------------------------------------------

    def register(self, algorithm: A, *, replace: bool = False) -> A:
        """Add ``algorithm`` (a subclass of :class:`Algorithm` or an instance); returns it unchanged."""
        with self._lock:
            return self._register(algorithm, replace)

    def _register(self, algorithm: A, replace: bool) -> A:
        self._load()
        instance = algorithm() if isinstance(algorithm, type) else algorithm
        hyperparameters = _validated(instance, self, replace=replace)
        candidate = dict(self._algorithms)
        candidate[instance.name] = instance
        candidate_hps = dict(self._hyperparameters)
        candidate_hps[instance.name] = hyperparameters
        trial = Registry(discover=False)
        trial._algorithms, trial._hyperparameters = candidate, candidate_hps
        try:
            trial.space()
        except RegistryError:
            raise
        except Exception as error:  # ConfigSpace refuses: say so in our words
            raise RegistryError(f"cannot register algorithm {instance.name!r}: {error}", key=instance.name) from error
        self._algorithms, self._hyperparameters = candidate, candidate_hps
        self._space, self._keys = trial._space, None
        return algorithm

    def unregister(self, name: str) -> None:
        """Remove algorithm ``name``."""
        with self._lock:
            self.get(name)
            algorithms, hyperparameters = dict(self._algorithms), dict(self._hyperparameters)
            del algorithms[name], hyperparameters[name]
            self._algorithms, self._hyperparameters = algorithms, hyperparameters
            self._space = self._keys = None

    # ----- discovery ---------------------------------------------------------------------------------

    def _load(self) -> None:
        """Load the declared algorithms once; other threads wait until it is done."""
        if not self._discover:
            return
        with self._lock:
            if not self._discover:
                return
            for name, entry_point in declared_algorithms().items():
                try:
                    loaded = entry_point.load()
                    instance = loaded() if isinstance(loaded, type) else loaded
                    hyperparameters = _validated(instance, self, replace=False, expected_name=name)
                except Exception as error:  # a broken plugin must not break every config
                    logger.warning("skipping algorithm %r from %s: %s", name, entry_point.value, error)
                    continue
                self._algorithms[name] = instance
                self._hyperparameters[name] = hyperparameters
            self._discover = False


def _validated(
    algorithm: Algorithm, registry: Registry, *, replace: bool, expected_name: Optional[str] = None
) -> List["Hyperparameter"]:
    """The algorithm's hyperparameters, after every check that registration must pass."""
    if not isinstance(algorithm, Algorithm):
        raise RegistryError(
            f"cannot register {algorithm!r}: an algorithm must subclass smashconfig.Algorithm", key=None
        )
    name = getattr(algorithm, "name", None)
    group = getattr(algorithm, "group", None)
    for label, value in (("name", name), ("group", group)):
        if not isinstance(value, str) or not _NAME.match(value) or keyword.iskeyword(value):
            raise RegistryError(
                f"cannot register {type(algorithm).__name__}: its {label} {value!r} must be a lowercase identifier "
                "such as 'quanto' or 'quantizer'",
                key=str(value),
            )
    if expected_name is not None and name != expected_name:
        raise RegistryError(f"entry point {expected_name!r} loads an algorithm named {name!r}", key=expected_name)
    if name in registry._algorithms and not replace:
        raise RegistryError(
            f"an algorithm named {name!r} is already registered ({registry._algorithms[name]!r}); "
            "choose another name, or pass replace=True",
            key=name,
        )
    try:
        hyperparameters = list(algorithm.hyperparameters())
    except Exception as error:
        raise RegistryError(f"algorithm {name!r}: hyperparameters() failed: {error}", key=name) from error
    local = [getattr(hp, "name", None) for hp in hyperparameters]
    for hp_name in local:
        if not isinstance(hp_name, str) or not _NAME.match(hp_name):
            raise RegistryError(
                f"algorithm {name!r}: hyperparameter name {hp_name!r} must be a lowercase identifier", key=name
            )
        if hp_name in SHARED:
            raise RegistryError(
                f"algorithm {name!r} declares {hp_name!r}, which every algorithm gets already", key=name
            )
    overridable = getattr(algorithm, "overridable", None)
    if overridable is not None and not set(overridable) <= set(local):
        raise RegistryError(
            f"algorithm {name!r}: overridable names {sorted(set(overridable) - set(local))}, which are not its hyperparameters",
            key=name,
        )
    if len(set(local)) != len(local):
        raise RegistryError(f"algorithm {name!r} declares a hyperparameter twice: {local}", key=name)
    _check_clashes(name, group, local + list(SHARED), registry)  # type: ignore[arg-type]
    return hyperparameters


def _check_clashes(name: str, group: str, local: List[str], registry: Registry) -> None:
    """No key of the new algorithm may equal a key, group or algorithm name of another one."""
    others = {n: a for n, a in registry._algorithms.items() if n != name}
    taken: Dict[str, str] = {}
    for other_name, other in others.items():
        taken[other.group] = f"the group key {other.group!r}"
        taken[other_name] = f"the algorithm {other_name!r}"
        for hp_name in [hp.name for hp in registry._hyperparameters.get(other_name, [])] + list(SHARED):
            taken[f"{other_name}_{hp_name}"] = f"hyperparameter {hp_name!r} of algorithm {other_name!r}"
    if name in taken:
        raise RegistryError(f"cannot register algorithm {name!r}: the name is already {taken[name]}", key=name)
    if group in taken and not taken[group].startswith("the group key"):
        raise RegistryError(f"cannot register algorithm {name!r}: its group {group!r} is already {taken[group]}", key=name)
    mine = {f"{name}_{hp}" for hp in local} | {name, group}
    if len(mine) != len(local) + 2:
        raise RegistryError(f"cannot register algorithm {name!r}: its name, group and keys overlap", key=name)
    for key in sorted(mine - {name, group}):
        if key in taken:
            raise RegistryError(
                f"cannot register algorithm {name!r}: its key {key!r} clashes with {taken[key]}", key=name
            )


_DEFAULT = Registry()


def default_registry() -> Registry:
    """The process-wide registry that :class:`~smashconfig.SmashConfig` and ``smash`` use."""
    return _DEFAULT


def register_algorithm(algorithm: A, *, replace: bool = False) -> A:
    """Register ``algorithm`` (a class or an instance) so configs, YAML and the CLI know it.

    Usable as a class decorator. A duplicate name, or a key that clashes with another algorithm's,
    raises :class:`~smashconfig.errors.RegistryError`.
    """
    return _DEFAULT.register(algorithm, replace=replace)


def unregister_algorithm(name: str) -> None:
    """Remove a registered algorithm (mainly for tests of third-party algorithms)."""
    _DEFAULT.unregister(name)
