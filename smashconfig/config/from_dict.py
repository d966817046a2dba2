"""Reading a config from a plain dict: the nested form and flat keys, every key accounted for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

from smashconfig.text.didyoumean import did_you_mean
from smashconfig.errors import (
    GroupConflictError,
    IllegalValueError,
    SmashConfigError,
    UnknownAlgorithmError,
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
    ``lora:`` with no value, or ``lora: true``, activates it with defaults; ``lora: false`` leaves it
    out); flat keys (``quantizer: quanto``, ``quanto_weight_bits: qint4``) are accepted too. An
    unknown key, a key given twice, or two algorithms of one group is an error; nothing is dropped
    silently.
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
        if isinstance(top, str) and top in algorithms and value is False:
            continue
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
    """The entries for ``{hyperparameter: value}`` of algorithm ``name`` (``None`` or ``True``: none).

    Hyperparameters are named without the prefix (``weight_bits``) or, as pruna writes them inside
    an algorithm's dict, with it (``quanto_weight_bits``); naming one twice is an error.
    """
    if value is None or value is True:
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
    entries: Dict[str, Entry] = {}
    for hp_name, hp_value in value.items():
        unprefixed = _unprefixed(name, hp_name, local)
        if unprefixed is None:
            hint = did_you_mean(hp_name, local) if isinstance(hp_name, str) else ""
            raise _at(
                UnknownKeyError(
                    f"algorithm {name!r} has no hyperparameter {hp_name!r}; its hyperparameters are "
                    f"{', '.join(map(repr, local))} (the prefix {name + '_'!r} is optional).{hint}",
                    key=f"{name}.{hp_name}",
                ),
                (name, str(hp_name)),
            )
        key = f"{name}_{unprefixed}"
        if key in entries:
            raise _at(
                IllegalValueError(
                    f"{name!r} gives {unprefixed!r} twice (as {entries[key].location[-1]!r} and as {hp_name!r}); "
                    "keep one.",
                    key=key,
                ),
                (name, str(hp_name)),
            )
        entries[key] = Entry(key, hp_value, (name, str(hp_name)))
    return list(entries.values())


def _unprefixed(name: str, hp_name: Any, local: List[str]) -> Any:
    """``hp_name`` as one of ``local`` (``quanto_weight_bits`` → ``weight_bits``), or ``None``."""
    if not isinstance(hp_name, str):
        return None
    if hp_name in local:
        return hp_name
    prefix = name + "_"
    if hp_name.startswith(prefix) and hp_name[len(prefix):] in local:
        return hp_name[len(prefix):]
    return None


def add_changes(algorithms: Any, current: Mapping[str, Any], registry: Registry) -> List[Tuple[str, Any]]:
    """The ``(key, value)`` changes that ``SmashConfig.add(algorithms)`` means: selections first.

    ``algorithms`` is a name, names, or a mapping whose keys are algorithm names (with their
    hyperparameters, ``True`` to activate or ``False`` to deactivate) or, as pruna writes them,
    config keys (``{"quanto_target_modules": {...}}``, ``{"quantizer": "quanto"}``), which mean
    item assignment. ``current`` holds the config's values, for group conflicts.
    """
    if isinstance(algorithms, str):
        items: List[Tuple[Any, Any]] = [(algorithms, None)]
    elif isinstance(algorithms, Mapping):
        items = list(algorithms.items())
    elif isinstance(algorithms, Iterable) and not isinstance(algorithms, (bytes, bytearray)):
        items = [(name, None) for name in algorithms]
    else:
        raise WrongTypeError(
            "add() takes an algorithm name, a list of names, {name: {hyperparameter: value}}, or "
            f"{{'<algorithm>_<hyperparameter>': value}}; got {describe(algorithms)}."
        )
    keys = registry.keys()
    selections: List[Tuple[str, Any]] = []
    params: List[Tuple[str, Any]] = []
    chosen: Dict[str, Any] = {}
    for name, value in items:
        if isinstance(algorithms, Mapping) and isinstance(name, str) and name in keys:
            spec = keys[name]
            if spec.is_group:
                _choose(chosen, spec.key, value, value)
                selections.append((name, value))
            else:
                params.append((name, value))
            continue
        algorithm = _algorithm_for_add(name, registry)
        group = algorithm.group
        if value is False:
            if (chosen[group] if group in chosen else current.get(group)) == name:
                _choose(chosen, group, None, name)
                selections.append((group, None))
            continue
        other = chosen.get(group) or current.get(group)
        if other is not None and other != name:
            raise GroupConflictError(
                f"cannot add {name!r}: the {group} is already {other!r}, and a config holds one algorithm "
                f"per group; remove {other!r} first or set cfg[{group!r}] = {name!r}.",
                key=group,
            )
        _choose(chosen, group, name, name)
        selections.append((group, name))
        params.extend((entry.key, entry.value) for entry in hyperparameter_entries(name, value, registry))
    return selections + params


def selection_changes(name: str, on: Any, current: Mapping[str, Any], registry: Registry) -> List[Tuple[str, Any]]:
    """The changes that ``cfg[name] = on`` means for algorithm ``name``: activate (``True``) or not."""
    if not isinstance(on, bool):
        raise WrongTypeError(
            f"cfg[{name!r}] takes True (activate {name!r}) or False (deactivate it); got {describe(on)}. "
            f"To set its hyperparameters write cfg.add({{{name!r}: {{...}}}}).",
            key=name,
        )
    return add_changes({name: on}, current, registry)


def _choose(chosen: Dict[str, Any], group: str, value: Any, name: Any) -> None:
    """Record that this ``add`` sets ``group`` to ``value``; a second, different choice is an error."""
    if group in chosen and chosen[group] != value:
        raise GroupConflictError(
            f"add() gives the {group} twice: {chosen[group]!r} and {name!r}; a config holds one algorithm per group.",
            key=group,
        )
    chosen[group] = value


def _algorithm_for_add(name: Any, registry: Registry) -> Any:
    if isinstance(name, str) and name in registry.groups():
        raise UnknownAlgorithmError(
            f"{name!r} is a group, not an algorithm; add one of its algorithms: "
            f"{', '.join(map(repr, registry.groups()[name]))}, or write add({{{name!r}: <algorithm>}}).",
            key=name,
        )
    if isinstance(name, str) and name in registry.keys():
        raise UnknownAlgorithmError(
            f"{name!r} is a key, not an algorithm; give it a value: add({{{name!r}: value}}) or cfg[{name!r}] = value.",
            key=name,
        )
    prefix = name.partition("_")[0] if isinstance(name, str) else None
    if prefix in registry.algorithms() and name != prefix:
        prefixed = [key for key in registry.keys() if key.startswith(prefix + "_")]
        raise UnknownKeyError(
            f"unknown key {name!r}; the keys of {prefix!r} are {', '.join(map(repr, prefixed))}."
            + did_you_mean(name, prefixed),
            key=name,
        )
    return registry.get(name)


def _at(error: SmashConfigError, location: Tuple[str, ...]) -> SmashConfigError:
    error.location = location
    return error
