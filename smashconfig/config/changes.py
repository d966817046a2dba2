"""The rules of one change to a config's values: which key it is, whether its algorithm is active,
and what selecting an algorithm for a group does. Pure functions of the registry and the values."""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Tuple

from smashconfig.contract.hyperparameters import check_value
from smashconfig.contract.keys import KeySpec
from smashconfig.contract.registry import Registry
from smashconfig.errors import IllegalValueError, InactiveAlgorithmError, UnknownKeyError, WrongTypeError, describe
from smashconfig.text.didyoumean import did_you_mean


def spec_of(registry: Registry, key: Any) -> KeySpec:
    """What ``key`` is: a group key or an algorithm's hyperparameter; unknown keys get a did-you-mean."""
    keys = registry.keys()
    if isinstance(key, str) and key in keys:
        return keys[key]
    raise UnknownKeyError(
        f"unknown key {key!r}; keys are group keys ({', '.join(map(repr, registry.groups()))}) and "
        "'<algorithm>_<hyperparameter>' keys such as 'quanto_weight_bits'."
        + (did_you_mean(key, keys) if isinstance(key, str) else ""),
        key=str(key),
    )


def require_active(spec: KeySpec, verb: str, values: Dict[str, Any]) -> None:
    """Refuse to ``verb`` a hyperparameter whose algorithm ``values`` do not select, saying how to select it."""
    if values.get(spec.group) != spec.algorithm:
        current = values.get(spec.group)
        now = f" (the {spec.group} is {current!r})" if current is not None else ""
        raise InactiveAlgorithmError(
            f"cannot {verb} {spec.key!r}: algorithm {spec.algorithm!r} is not active{now}; activate it with "
            f"cfg.add({spec.algorithm!r}) or cfg[{spec.group!r}] = {spec.algorithm!r} "
            f"(in a file: a '{spec.algorithm}:' section, or '{spec.group}: {spec.algorithm}').",
            key=spec.key,
        )


def select(registry: Registry, values: Dict[str, Any], spec: KeySpec, name: Any) -> None:
    """Select algorithm ``name`` (or ``None``) for group ``spec.group`` in ``values``; the previous one's values go."""
    group = spec.group
    if name is not None:
        if not isinstance(name, str):
            raise WrongTypeError(f"{group!r} takes an algorithm name or None; got {describe(name)}.", key=group)
        choices = [c for c in spec.hyperparameter.choices if c is not None]
        if name not in choices:
            raise IllegalValueError(not_in_group(registry, group, name, choices), key=group)
    previous = values.get(group)
    if previous == name:
        return
    if previous is not None:
        prefix = previous + "_"
        keys = registry.keys()
        for key in [k for k in values if k.startswith(prefix) and keys[k].algorithm == previous]:
            del values[key]
    if name is None:
        values.pop(group, None)
    else:
        values[group] = str(name)


def not_in_group(registry: Registry, group: str, name: str, choices: List[str]) -> str:
    """Why ``name`` cannot be selected for ``group``, and what can."""
    algorithms = registry.algorithms()
    if name in algorithms:
        other = algorithms[name].group
        return (
            f"{name!r} is not a {group}: it belongs to the group {other!r}; set cfg[{other!r}] = {name!r} "
            f"or cfg.add({name!r})."
        )
    return (
        f"{group!r} = {name!r} is not an algorithm; the {group} algorithms are {', '.join(map(repr, choices))}."
        + did_you_mean(name, list(algorithms))
    )


def canonical(spec: KeySpec, value: Any) -> Any:
    """A copy of ``value`` in normal form (``target_modules`` with both keys)."""
    from smashconfig.contract.hyperparameters import is_target_modules
    from smashconfig.target_modules.normalize import normalize_target_modules

    if is_target_modules(spec.hyperparameter):
        return normalize_target_modules(value, key=spec.key)
    return copy.deepcopy(value)


def names_algorithm(registry: Registry, key: Any) -> bool:
    """Whether ``key`` names an algorithm (``cfg["quanto"] = True`` activates it, as in pruna)."""
    return isinstance(key, str) and key not in registry.keys() and key in registry.algorithms()


def apply_changes(registry: Registry, values: Dict[str, Any], changes: List[Tuple[str, Any]]) -> Dict[str, Any]:
    """``values`` with ``changes`` applied in order, each checked; ``values`` is modified and returned."""
    for key, value in changes:
        if names_algorithm(registry, key):
            from smashconfig.config.from_dict import selection_changes

            apply_changes(registry, values, selection_changes(key, value, values, registry))
            continue
        spec = spec_of(registry, key)
        if spec.is_group:
            select(registry, values, spec, value)
            continue
        require_active(spec, "set", values)
        values[key] = check_value(spec.hyperparameter, value, key)
    return values
