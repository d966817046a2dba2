"""Checking a user's value against a ConfigSpace hyperparameter, with errors a person can act on.

The hyperparameter in the space is the only source of what is legal; this module adds the type
check ConfigSpace leaves out (``"32"`` or ``True`` are not integers) and turns a refusal into a
message that names the key, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from typing import TYPE_CHECKING, Any, Dict, Hashable, List, Mapping, Optional, Sequence

from ConfigSpace import Constant
from ConfigSpace.hyperparameters import (
    CategoricalHyperparameter,
    FloatHyperparameter,
    IntegerHyperparameter,
    OrdinalHyperparameter,
)

from smashconfig.text.didyoumean import did_you_mean
from smashconfig.errors import IllegalValueError, TargetModulesError, UnknownKeyError, WrongTypeError, describe, short_repr
from smashconfig.target_modules.normalize import SHAPE, normalize_target_modules
from smashconfig.target_modules.overrides import RULE_PATTERN_KEYS

SHARED = ("target_modules", "overrides")
"""The hyperparameters every algorithm has besides its own."""
OVERRIDES_SHAPE = "a list of rules, each {'include': [patterns], 'exclude': [patterns] (optional), <hyperparameter>: value, ...}"

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


class Overrides(Constant):
    """An ordered list of rules giving some modules their own values of the algorithm's hyperparameters.

    Like :class:`TargetModules`, ConfigSpace holds only the placeholder; each rule is checked
    against the algorithm's own hyperparameters (``own``), ``overridable`` names those a rule may set.
    """

    def __init__(self, own: Sequence["Hyperparameter"], overridable: Optional[Sequence[str]] = None) -> None:
        super().__init__("overrides", None, meta={"help": f"per-module values: {OVERRIDES_SHAPE}"})
        self.own = {hp.name: hp for hp in own}
        self.overridable = tuple(overridable) if overridable is not None else tuple(self.own)

    def legal_value(self, value: Any) -> bool:  # type: ignore[override]
        try:
            check_overrides(self, value, self.name)
        except (TypeError, ValueError, KeyError):
            return False
        return True


def is_overrides(hp: "Hyperparameter") -> bool:
    return isinstance(hp, Overrides)


def is_shared(hp: "Hyperparameter") -> bool:
    """``target_modules`` or ``overrides``: values ConfigSpace does not hold."""
    return isinstance(hp, (TargetModules, Overrides))


def check_overrides(hp: Overrides, value: Any, key: str) -> List[Dict[str, Any]]:
    """The rules in normal form (patterns as lists, values plain), or an error naming the rule and key."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise WrongTypeError(f"{key} takes {OVERRIDES_SHAPE}; got {describe(value)}.", key=key)
    rules = []
    for n, rule in enumerate(value, 1):
        where = f"{key} rule {n}"
        if not isinstance(rule, MappingABC):
            raise WrongTypeError(f"{where} must be a mapping ({OVERRIDES_SHAPE}); got {describe(rule)}.", key=key)
        if "include" not in rule:
            raise TargetModulesError(
                f"{where} has no 'include' patterns; say which modules it applies to, e.g. "
                "{'include': ['*.self_attn.*'], ...}.",
                key=key,
            )
        patterns = normalize_target_modules({k: rule[k] for k in RULE_PATTERN_KEYS if k in rule}, key=f"{where}")
        values = {name: _check_rule_value(hp, name, v, where, key) for name, v in rule.items() if name not in RULE_PATTERN_KEYS}
        if not values:
            raise IllegalValueError(
                f"{where} sets no hyperparameter; add one of {', '.join(map(repr, hp.overridable))}.", key=key
            )
        rules.append({**patterns, **values})
    return rules


def _check_rule_value(hp: Overrides, name: Any, value: Any, where: str, key: str) -> Any:
    if name in SHARED:
        raise IllegalValueError(f"{where} sets {name!r}, which a rule cannot override: {SHARED[0]} alone decides what is targeted.", key=key)
    if not isinstance(name, str) or name not in hp.own:
        hint = did_you_mean(name, hp.own) if isinstance(name, str) else ""
        allowed_names = ", ".join(map(repr, hp.overridable)) or "none"
        raise UnknownKeyError(f"{where} sets unknown hyperparameter {name!r}; a rule may set {allowed_names}.{hint}", key=key)
    if name not in hp.overridable:
        raise IllegalValueError(
            f"{where} sets {name!r}, which this algorithm does not let a rule override; a rule may set "
            f"{', '.join(map(repr, hp.overridable)) or 'nothing'}.",
            key=key,
        )
    return check_value(hp.own[name], value, f"{where}: {name}")


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
    if is_overrides(hp):
        return OVERRIDES_SHAPE
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
        normal = normalize_target_modules(value, key=key)
        # kept with the keys as written (pruna reads back what it set); planning fills in the rest
        return None if normal is None else {k: normal[k] for k in value}
    if is_overrides(hp):
        return check_overrides(hp, value, key)  # type: ignore[arg-type]
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
    unavailable = (hp.meta or {}).get("unavailable", {})  # value → why the algorithm does not offer it
    if isinstance(value, str) and value in unavailable:
        hint = f" {value!r} is not offered: {unavailable[value]}."
    raise IllegalValueError(f"{key} = {short_repr(value)} is not allowed; {key} takes {allowed(hp)}.{hint}", key=key)


def _legal(hp: "Hyperparameter", value: Any) -> bool:
    try:
        return bool(hp.legal_value(value))
    except (TypeError, ValueError):
        return False


def default_of(hp: "Hyperparameter") -> Any:
    """The default of ``hp`` as a plain Python value (``None`` for ``target_modules``, ``[]`` for ``overrides``)."""
    if is_overrides(hp):
        return []
    return None if is_target_modules(hp) else plain(hp.default_value)
