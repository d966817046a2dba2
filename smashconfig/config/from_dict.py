"""Reading a config from a plain dict: the nested form and flat keys, every key accounted for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

from smashconfig.text.didyoumean import did_you_mean
from smashconfig.errors import (
    GroupConflictError,
    IllegalValueError,
    SmashConfigError,
    UnknownKeyError,
    WrongTypeError,
    describe,
)
from smashconfig.contract.registry import Registry


@dataclass(frozen=True)
class Entry:
    """One flat ``key = value`` change and where it was written (``("quanto", "weight_bits")``)."""

    key: str
    value: Any
    location: Tuple[str, ...]


def entries_from_dict(data: Any, registry: Registry) -> List[Entry]:
    """The changes ``data`` asks for: group selections first, then hyperparameters.

    The nested form maps algorithm names to their hyperparameters (``quanto: {weight_bits: qint4}``;
    ``lora:`` with no value activates it with defaults); flat keys (``quantizer: quanto``,
    ``quanto_weight_bits: qint4``) are accepted too. An unknown key, a key given twice, or two
    algorithms of one group is an error; nothing is dropped silently.
    """
    if not isinstance(data, Mapping):
        raise WrongTypeError(
            f"a config must be a mapping such as {{'quanto': {{'weight_bits': 'qint8'}}}}; got {describe(data)}."
        )
    algorithms = registry.algorithms()
    keys = registry.keys()
    groups: Dict[str, Entry] = {}
    params: Dict[str, Entry] = {}

    def select(group: str, entry: Entry) -> None:
        earlier = groups.get(group)
        if earlier is not None and earlier.value != entry.value:
            raise _at(
                GroupConflictError(
                    f"the {group} is given twice: {earlier.value!r} (at {'.'.join(earlier.location)}) and "
                    f"{entry.value!r}; a config holds one algorithm per group.",
                    key=group,
                ),
                entry.location,
            )
        groups.setdefault(group, entry)

    def set_param(entry: Entry) -> None:
        earlier = params.get(entry.key)
        if earlier is not None:
            raise _at(
                IllegalValueError(
                    f"{entry.key!r} is given twice: at {'.'.join(earlier.location)} and at {'.'.join(entry.location)}.",
                    key=entry.key,
                ),
                entry.location,
            )
        params[entry.key] = entry

    for top, value in data.items():
        if isinstance(top, str) and top in algorithms:
            select(algorithms[top].group, Entry(algorithms[top].group, top, (top,)))
            for entry in hyperparameter_entries(top, value, registry):
                set_param(entry)
        elif isinstance(top, str) and top in keys and keys[top].is_group:
            select(top, Entry(top, value, (top,)))
        elif isinstance(top, str) and top in keys:
            set_param(Entry(top, value, (top,)))
        else:
            known = list(algorithms) + list(keys)
            raise _at(
                UnknownKeyError(
                    f"unknown key {top!r}; a config's keys are algorithm names ({', '.join(map(repr, algorithms))}), "
                    f"group keys ({', '.join(map(repr, registry.groups()))}) or '<algorithm>_<hyperparameter>'."
                    + (did_you_mean(top, known) if isinstance(top, str) else ""),
                    key=str(top),
                ),
                (str(top),),
            )
    return list(groups.values()) + list(params.values())


def hyperparameter_entries(name: str, value: Any, registry: Registry) -> List[Entry]:
    """The entries for ``{hyperparameter: value}`` of algorithm ``name`` (``None``: none)."""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise _at(
            WrongTypeError(
                f"{name!r} must map its hyperparameters to values (or be empty to use the defaults); "
                f"got {describe(value)}.",
                key=name,
            ),
            (name,),
        )
    local = registry.key_names(name)
    entries = []
    for hp_name, hp_value in value.items():
        if hp_name not in local:
            hint = did_you_mean(hp_name, local) if isinstance(hp_name, str) else ""
            if isinstance(hp_name, str) and hp_name.startswith(name + "_") and hp_name[len(name) + 1 :] in local:
                hint = f" Inside {name!r} write {hp_name[len(name) + 1:]!r}, without the prefix."
            raise _at(
                UnknownKeyError(
                    f"algorithm {name!r} has no hyperparameter {hp_name!r}; its hyperparameters are "
                    f"{', '.join(map(repr, local))}.{hint}",
                    key=f"{name}.{hp_name}",
                ),
                (name, str(hp_name)),
            )
        entries.append(Entry(f"{name}_{hp_name}", hp_value, (name, hp_name)))
    return entries


def _at(error: SmashConfigError, location: Tuple[str, ...]) -> SmashConfigError:
    error.location = location
    return error
