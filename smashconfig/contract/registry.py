"""The algorithms smashconfig knows: built-ins and third-party ones, registered the same way.

Algorithms come from entry points in the group ``smashconfig.algorithms`` (the built-ins
``quanto`` and ``lora`` declare theirs in pyproject.toml) and from :func:`register_algorithm`
at run time. The registry builds the ConfigurationSpace of all of them, once per change.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import keyword
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Type, TypeVar, Union

from smashconfig.contract.algorithm import Algorithm
from smashconfig.text.didyoumean import did_you_mean
from smashconfig.errors import RegistryError, UnknownAlgorithmError

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace
    from ConfigSpace.hyperparameters import Hyperparameter

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "smashconfig.algorithms"
BUILTINS = {
    "quanto": "smashconfig.algorithms.quanto:Quanto",
    "lora": "smashconfig.algorithms.lora:LoRA",
}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

A = TypeVar("A", bound=Union[Type[Algorithm], Algorithm])


@dataclass(frozen=True)
class KeySpec:
    """What a flat config key is: a group key, or a hyperparameter of one algorithm."""

    key: str
    hyperparameter: "Hyperparameter"
    group: str
    algorithm: Optional[str] = None
    name: Optional[str] = None
    """The hyperparameter's unprefixed name (``weight_bits``); ``None`` for a group key."""

    @property
    def is_group(self) -> bool:
        return self.algorithm is None


class Registry:
    """Registered algorithms by name, and the ConfigurationSpace built from them."""

    def __init__(self, *, discover: bool = True) -> None:
        self._algorithms: Dict[str, Algorithm] = {}
        self._hyperparameters: Dict[str, List["Hyperparameter"]] = {}
        self._discover = discover
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
        """Unprefixed hyperparameter names of algorithm ``name``, in declaration order."""
        self.get(name)
        return [hp.name for hp in self._hyperparameters[name]]

    def space(self) -> "ConfigurationSpace":
        """The ConfigurationSpace of all registered algorithms; treat it as read-only."""
        self._load()
        if self._space is None:
            self._space = _build_space(self)
        return self._space

    def has_inner_conditions(self) -> bool:
        """Whether any algorithm conditions its hyperparameters on each other (beyond its selection)."""
        return any(algorithm.conditions() for algorithm in self.algorithms().values())

    def keys(self) -> Dict[str, KeySpec]:
        """Every flat config key (group keys and ``<algorithm>_<hyperparameter>``), read off the space."""
        if self._keys is None:
            self._keys = _keys_of(self.space(), self)
        return self._keys

    # ----- changes -----------------------------------------------------------------------------------

    def register(self, algorithm: A, *, replace: bool = False) -> A:
        """Add ``algorithm`` (a subclass of :class:`Algorithm` or an instance); returns it unchanged."""
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
        self.get(name)
        del self._algorithms[name]
        del self._hyperparameters[name]
        self._space = self._keys = None

    # ----- discovery ---------------------------------------------------------------------------------

    def _load(self) -> None:
        if not self._discover:
            return
        self._discover = False
        for name, target in _discovered().items():
            try:
                loaded = _load_target(target)
                instance = loaded() if isinstance(loaded, type) else loaded
                hyperparameters = _validated(instance, self, replace=False, expected_name=name)
            except Exception as error:  # a broken plugin must not break every config
                logger.warning("skipping algorithm %r from %s: %s", name, target, error)
                continue
            self._algorithms[name] = instance
            self._hyperparameters[name] = hyperparameters


def _discovered() -> Dict[str, str]:
    """Entry-point name → ``module:attribute``; the built-ins are always present."""
    found = dict(BUILTINS)
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name in BUILTINS and entry_point.value != BUILTINS[entry_point.name]:
            logger.warning(
                "ignoring entry point %r = %r: the name belongs to a built-in algorithm",
                entry_point.name,
                entry_point.value,
            )
            continue
        found[entry_point.name] = entry_point.value
    return found


def _load_target(target: str) -> Any:
    module, _, attribute = target.partition(":")
    loaded: Any = importlib.import_module(module)
    for part in attribute.split("."):
        loaded = getattr(loaded, part)
    return loaded


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
        if hp_name == "target_modules":
            raise RegistryError(
                f"algorithm {name!r} declares 'target_modules', which every algorithm gets already", key=name
            )
    if len(set(local)) != len(local):
        raise RegistryError(f"algorithm {name!r} declares a hyperparameter twice: {local}", key=name)
    _check_clashes(name, group, local + ["target_modules"], registry)  # type: ignore[arg-type]
    return hyperparameters


def _check_clashes(name: str, group: str, local: List[str], registry: Registry) -> None:
    """No key of the new algorithm may equal a key, group or algorithm name of another one."""
    others = {n: a for n, a in registry._algorithms.items() if n != name}
    taken: Dict[str, str] = {}
    for other_name, other in others.items():
        taken[other.group] = f"the group key {other.group!r}"
        taken[other_name] = f"the algorithm {other_name!r}"
        for hp_name in [hp.name for hp in registry._hyperparameters.get(other_name, [])] + ["target_modules"]:
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


def _build_space(registry: Registry) -> "ConfigurationSpace":
    from ConfigSpace import Categorical, ConfigurationSpace

    from smashconfig.contract.hyperparameters import TargetModules

    space = ConfigurationSpace()
    algorithms = registry.algorithms()
    for group, names in registry.groups().items():
        parent = Categorical(group, names + [None], default=None, meta={"help": f"which {group} to apply"})
        space.add(parent)
        for name in names:
            sub = ConfigurationSpace()
            sub.add(registry._hyperparameters[name] + [TargetModules()])
            for condition in algorithms[name].conditions():
                sub.add(condition)
            space.add_configuration_space(
                prefix=name,
                configuration_space=sub,
                delimiter="_",
                parent_hyperparameter={"parent": parent, "value": name},
            )
    return space


def _keys_of(space: "ConfigurationSpace", registry: Registry) -> Dict[str, KeySpec]:
    """Key table read off the space: unconditional hyperparameters are groups, the rest belong to one algorithm."""
    keys: Dict[str, KeySpec] = {}
    for group, names in registry.groups().items():
        keys[group] = KeySpec(group, space[group], group)
        for name in names:
            for hp_name in registry.hyperparameter_names(name) + ["target_modules"]:
                key = f"{name}_{hp_name}"
                condition = _owner(space, key)
                keys[key] = KeySpec(key, space[key], condition[0], condition[1], hp_name)
    return keys


def _owner(space: "ConfigurationSpace", key: str) -> Tuple[str, str]:
    """(group, algorithm) of a hyperparameter key: the top of its chain of conditions."""
    conditions = space.parent_conditions_of[key]
    while conditions:
        condition = conditions[0]
        parent = condition.parent.name
        if not space.parent_conditions_of[parent]:
            return parent, condition.value
        conditions = space.parent_conditions_of[parent]
    raise RegistryError(f"hyperparameter {key!r} is not conditioned on an algorithm", key=key)


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
