"""A config's values checked as a whole against the ConfigurationSpace of the registered algorithms.

The space decides activity: a hyperparameter is active when its algorithm is selected in its
group and every condition among the algorithm's own hyperparameters holds.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Set

from smashconfig.errors import IllegalValueError, InactiveAlgorithmError
from smashconfig.contract.hyperparameters import default_of, is_shared
from smashconfig.contract.registry import Registry


def _selection(registry: Registry, values: Dict[str, Any]) -> Dict[str, Any]:
    """Group selections, and every hyperparameter of the selected algorithms (set value or default)."""
    selection: Dict[str, Any] = {}
    for key, spec in registry.keys().items():
        if spec.is_group:
            selection[key] = values.get(key)
        elif values.get(spec.group) == spec.algorithm:
            hp = spec.hyperparameter
            selection[key] = None if is_shared(hp) else values.get(key, default_of(hp))
    return selection


def active_keys(registry: Registry, values: Dict[str, Any]) -> Set[str]:
    """The hyperparameter keys active for ``values``, as the space's conditions say."""
    selection = _selection(registry, values)
    keys = {key for key, spec in registry.keys().items() if not spec.is_group and key in selection}
    if not registry.has_inner_conditions():
        return keys
    from ConfigSpace import Configuration

    space = registry.space()
    try:
        configuration = Configuration(space, values=selection, allow_inactive_with_values=True)
        return {key for key in space.get_active_hyperparameters(configuration) if key in keys}
    except (ValueError, KeyError, TypeError) as error:
        raise IllegalValueError(f"the configuration is not valid: {error}") from None


def settle(registry: Registry, values: Dict[str, Any], explicitly_set: Iterable[str] = ()) -> Dict[str, Any]:
    """``values`` without hyperparameters the change made inactive, checked against the space.

    A key set in this very change that is inactive is an error naming the condition it needs;
    values left over from before that became inactive are dropped, as deselecting an
    algorithm drops its values.
    """
    active = active_keys(registry, values)
    keys = registry.keys()
    for key in explicitly_set:
        spec = keys.get(key)
        if spec is not None and not spec.is_group and key not in active and values.get(spec.group) == spec.algorithm:
            raise InactiveAlgorithmError(
                f"cannot set {key!r}: it is inactive with the current values; it applies only when "
                f"{_conditions_text(registry, key)}.",
                key=key,
            )
    settled = {k: v for k, v in values.items() if keys[k].is_group or k in active}
    validate(registry, settled, active)
    for key in settled:
        if keys[key].name == "overrides" and settled[key]:
            check_rules(registry, settled, key)
    return settled


def check_rules(registry: Registry, values: Dict[str, Any], key: str) -> None:
    """Each override rule of ``key`` with the algorithm's values: every value it sets must be active,
    and the whole must be a valid configuration (the conditions among the hyperparameters hold)."""
    algorithm = registry.keys()[key].algorithm
    for n, rule in enumerate(values[key], 1):
        changed = {f"{algorithm}_{name}": value for name, value in rule.items() if name not in ("include", "exclude")}
        with_rule = {**values, **changed}
        active = active_keys(registry, with_rule)
        for rule_key in changed:
            if rule_key not in active:
                raise InactiveAlgorithmError(
                    f"{key} rule {n} sets {rule_key[len(algorithm) + 1:]!r}, which is inactive for the modules it "
                    f"matches; it applies only when {_conditions_text(registry, rule_key)}.",
                    key=key,
                )
        try:
            validate(registry, with_rule, active)
        except IllegalValueError as error:
            raise IllegalValueError(f"{key} rule {n}: {error}", key=key) from None


def validate(registry: Registry, values: Dict[str, Any], active: Set[str]) -> None:
    """Check ``values`` as one ConfigSpace Configuration; its exceptions never reach the user."""
    from ConfigSpace import Configuration

    selection = {k: v for k, v in _selection(registry, values).items() if registry.keys()[k].is_group or k in active}
    try:
        Configuration(registry.space(), values=selection)
    except (ValueError, KeyError, TypeError) as error:
        raise IllegalValueError(f"the configuration is not valid: {error}") from None


def _conditions_text(registry: Registry, key: str) -> str:
    conditions = registry.space().parent_conditions_of[key]
    return " and ".join(str(condition).split(" | ", 1)[-1] for condition in conditions)
