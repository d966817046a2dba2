"""Checking a user's value against a ConfigSpace hyperparameter, with errors a person can act on.

The hyperparameter in the space is the only source of what is legal; this module adds the type
check ConfigSpace leaves out (``"32"`` or ``True`` are not integers) and turns a refusal into a
message that names the key, the value and what is allowed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Hashable, Mapping, Optional

from ConfigSpace import Constant
from ConfigSpace.hyperparameters import (
    CategoricalHyperparameter,
    FloatHyperparameter,
    IntegerHyperparameter,
    OrdinalHyperparameter,
)

from smashconfig.text.didyoumean import did_you_mean
from smashconfig.errors import IllegalValueError, WrongTypeError, describe, short_repr
from smashconfig.target_modules.normalize import SHAPE, normalize_target_modules

if TYPE_CHECKING:
    from ConfigSpace.hyperparameters import Hyperparameter


class TargetModules(Constant):
    """``None`` (inferred per model) or a ``TARGET_MODULES_TYPE`` dict.

    ConfigSpace holds only the placeholder ``None``: the dict itself lives in each config, so no
    value is ever written into this object, which every config shares.
    """

    def __init__(self, name: str = "target_modules", meta: Optional[Mapping[Hashable, Any]] = None) -> None:
        super().__init__(name, None, meta=meta or {"help": f"which modules: {SHAPE}"})

    def legal_value(self, value: Any) -> bool:  # type: ignore[override]
        try:
            normalize_target_modules(value, key=self.name)
        except (TypeError, ValueError):
            return False
        return True


def is_target_modules(hp: "Hyperparameter") -> bool:
    return isinstance(hp, TargetModules)


def plain(value: Any) -> Any:
    """``value`` as plain Python: numpy scalars become ``int``/``float``/``str``/``bool``."""
    item = getattr(value, "item", None)
    if item is not None and type(value).__module__ == "numpy":
        return item()
    return value


def allowed(hp: "Hyperparameter") -> str:
    """What ``hp`` allows, in words: ``one of 'qint2', 'qint4'`` or ``an integer from 1 to 1024``."""
    if is_target_modules(hp):
        return SHAPE
    if isinstance(hp, CategoricalHyperparameter):
        return "one of " + ", ".join(repr(plain(c)) for c in hp.choices)
    if isinstance(hp, OrdinalHyperparameter):
        return "one of " + ", ".join(repr(plain(c)) for c in hp.sequence)
    if isinstance(hp, IntegerHyperparameter):
        return f"an integer from {plain(hp.lower)} to {plain(hp.upper)}"
    if isinstance(hp, FloatHyperparameter):
        return f"a number from {plain(hp.lower)} to {plain(hp.upper)}"
    if isinstance(hp, Constant):
        return f"only {plain(hp.value)!r}"
    return str(hp)


def check_value(hp: "Hyperparameter", value: Any, key: str) -> Any:
    """The plain value to store for ``key``, or an error naming key, value and what is allowed."""
    if is_target_modules(hp):
        return normalize_target_modules(value, key=key)
    value = plain(value)
    if isinstance(hp, (CategoricalHyperparameter, OrdinalHyperparameter)):
        return _check_choice(hp, value, key)
    if isinstance(hp, IntegerHyperparameter):
        if isinstance(value, bool) or not isinstance(value, int):
            raise WrongTypeError(f"{key} takes {allowed(hp)}; got {describe(value)}, which is not an integer.", key=key)
    elif isinstance(hp, FloatHyperparameter):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise WrongTypeError(f"{key} takes {allowed(hp)}; got {describe(value)}, which is not a number.", key=key)
        try:
            value = float(value)
        except OverflowError:
            raise IllegalValueError(f"{key} = {short_repr(value)} is not allowed; {key} takes {allowed(hp)}.", key=key) from None
    if not _legal(hp, value):
        raise IllegalValueError(f"{key} = {short_repr(value)} is not allowed; {key} takes {allowed(hp)}.", key=key)
    return value


def _check_choice(hp: "Hyperparameter", value: Any, key: str) -> Any:
    choices = [plain(c) for c in getattr(hp, "choices", None) or hp.sequence]
    for choice in choices:
        if type(choice) is type(value) and choice == value:
            return choice
    if not any(type(choice) is type(value) for choice in choices):
        kinds = sorted({type(c).__name__ for c in choices})
        raise WrongTypeError(
            f"{key} takes {allowed(hp)} ({' or '.join(kinds)}); got {describe(value)}.", key=key
        )
    hint = did_you_mean(value, [c for c in choices if isinstance(c, str)]) if isinstance(value, str) else ""
    raise IllegalValueError(f"{key} = {short_repr(value)} is not allowed; {key} takes {allowed(hp)}.{hint}", key=key)


def _legal(hp: "Hyperparameter", value: Any) -> bool:
    try:
        return bool(hp.legal_value(value))
    except (TypeError, ValueError):
        return False


def default_of(hp: "Hyperparameter") -> Any:
    """The default of ``hp`` as a plain Python value (``None`` for ``target_modules``)."""
    return None if is_target_modules(hp) else plain(hp.default_value)
