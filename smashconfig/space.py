"""The final check of a config's values against the ConfigurationSpace of the registered algorithms."""

from __future__ import annotations

from typing import Any, Dict

from smashconfig.errors import IllegalValueError
from smashconfig.hyperparameters import default_of, is_target_modules
from smashconfig.registry import Registry


def validate(registry: Registry, values: Dict[str, Any]) -> None:
    """Check ``values`` (group selections and set hyperparameters) as one ConfigSpace Configuration.

    Each value was already checked against its own hyperparameter; this adds the space's
    conditions (which hyperparameters are active) and any forbidden combinations. ConfigSpace's
    own exceptions never reach the user.
    """
    from ConfigSpace import Configuration

    space = registry.space()
    keys = registry.keys()
    selection: Dict[str, Any] = {}
    for key, spec in keys.items():
        if spec.is_group:
            selection[key] = values.get(key)
        elif values.get(spec.group) == spec.algorithm:
            hp = spec.hyperparameter
            selection[key] = None if is_target_modules(hp) else values.get(key, default_of(hp))
    try:
        Configuration(space, values=selection)
    except (ValueError, KeyError, TypeError) as error:
        raise IllegalValueError(f"the configuration is not valid: {error}") from None
