"""The ConfigurationSpace of registered algorithms, and the flat config keys read off it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

from smashconfig.errors import RegistryError

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace
    from ConfigSpace.hyperparameters import Hyperparameter



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



def build_space(registry: Any) -> "ConfigurationSpace":
    from ConfigSpace import Categorical, ConfigurationSpace

    from smashconfig.contract.hyperparameters import Overrides, TargetModules

    space = ConfigurationSpace()
    algorithms = registry.algorithms()
    for group, names in registry.groups().items():
        parent = Categorical(group, names + [None], default=None, meta={"help": f"which {group} to apply"})
        space.add(parent)
        for name in names:
            sub = ConfigurationSpace()
            own = registry._hyperparameters[name]
            sub.add(own + [TargetModules(), Overrides(own, algorithms[name].overridable)])
            for condition in algorithms[name].conditions():
                sub.add(condition)
            space.add_configuration_space(
                prefix=name,
                configuration_space=sub,
                delimiter="_",
                parent_hyperparameter={"parent": parent, "value": name},
            )
    return space


def keys_of(space: "ConfigurationSpace", registry: Any) -> Dict[str, KeySpec]:
    """Key table read off the space: unconditional hyperparameters are groups, the rest belong to one algorithm."""
    keys: Dict[str, KeySpec] = {}
    for group, names in registry.groups().items():
        keys[group] = KeySpec(group, space[group], group)
        for name in names:
            for hp_name in registry.key_names(name):
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
