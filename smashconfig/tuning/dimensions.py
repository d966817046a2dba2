"""One searchable value of a search file: fixed, a choice among values, or a numeric range.

The forms, for a hyperparameter ``key`` of a registered algorithm:

- a scalar (``weight_bits: qint8``) is fixed;
- a list (``weight_bits: [qint8, qfloat8]``) is a choice among its items;
- a mapping ``{low: 4, high: 64}`` (optionally ``log: true``, ``step: 4``) is a range, for
  integer and float hyperparameters only.

``target_modules`` is fixed when it is a mapping (or null) and a choice when it is a list of
them; ``overrides`` (a list of rules) is always fixed. Every value is checked against the registered hyperparameter when the file is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, List, Optional, Tuple, Union

from smashconfig.contract.hyperparameters import allowed, check_value, is_overrides, is_target_modules
from smashconfig.errors import IllegalValueError, WrongTypeError, describe

if TYPE_CHECKING:
    import optuna
    from ConfigSpace.hyperparameters import Hyperparameter

RANGE_KEYS = ("low", "high", "log", "step")
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Fixed:
    """A value the search does not vary."""

    value: Any

    def suggest(self, trial: "optuna.Trial", name: str) -> Any:
        return self.value

    def describe(self) -> Any:
        return self.value


@dataclass(frozen=True)
class Choice:
    """One of ``values``; Optuna sees the values themselves, or their positions when they are not scalars."""

    values: Tuple[Any, ...]

    def suggest(self, trial: "optuna.Trial", name: str) -> Any:
        if all(isinstance(v, _SCALARS) for v in self.values):
            return trial.suggest_categorical(name, list(self.values))
        return self.values[trial.suggest_categorical(name, list(range(len(self.values))))]

    def describe(self) -> Any:
        return {"choose": list(self.values)}


@dataclass(frozen=True)
class Range:
    """A number from ``low`` to ``high`` (both included), integer or float, optionally on a log scale."""

    low: Union[int, float]
    high: Union[int, float]
    integer: bool
    log: bool = False
    step: Optional[Union[int, float]] = None

    def suggest(self, trial: "optuna.Trial", name: str) -> Any:
        if self.integer:
            return trial.suggest_int(name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), step=self.step, log=self.log)

    def describe(self) -> Any:
        out = {"low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        return out


Dimension = Union[Fixed, Choice, Range]


def dimension(hp: "Hyperparameter", value: Any, key: str) -> Dimension:
    """The dimension that ``value`` (as written in a search file) describes for hyperparameter ``hp``."""
    if is_overrides(hp):  # a list of rules is one value; ``optional_overrides`` lets a search vary them
        return Fixed(check_value(hp, value, key))
    if is_target_modules(hp):
        if isinstance(value, list):
            return Choice(tuple(check_value(hp, item, key) for item in _items(value, key, hp)))
        return Fixed(check_value(hp, value, key))
    if isinstance(value, list):
        return Choice(tuple(check_value(hp, item, key) for item in _items(value, key, hp)))
    if isinstance(value, Mapping):
        return _range(hp, value, key)
    return Fixed(check_value(hp, value, key))


def _items(value: List[Any], key: str, hp: "Hyperparameter") -> List[Any]:
    if not value:
        raise IllegalValueError(
            f"{key} = [] offers nothing to choose; list one or more values ({allowed(hp)}).", key=key
        )
    return value


def _range(hp: "Hyperparameter", value: Mapping, key: str) -> Range:
    from ConfigSpace.hyperparameters import FloatHyperparameter, IntegerHyperparameter

    integer = isinstance(hp, IntegerHyperparameter)
    if not (integer or isinstance(hp, FloatHyperparameter)):
        raise WrongTypeError(
            f"{key} = {describe(dict(value))}: a range {{low: ..., high: ...}} applies to numbers only; "
            f"{key} takes {allowed(hp)}: write one value, or a list of values to choose among.",
            key=key,
        )
    unknown = [k for k in value if k not in RANGE_KEYS]
    missing = [k for k in ("low", "high") if k not in value]
    if unknown or missing:
        problem = f"unknown key {unknown[0]!r}" if unknown else f"no {missing[0]!r}"
        raise IllegalValueError(
            f"{key} = {describe(dict(value))} has {problem}; a range is {{low: L, high: H}} with optional "
            "'log: true' and 'step: S'.",
            key=key,
        )
    low, high = check_value(hp, value["low"], key), check_value(hp, value["high"], key)
    if not low < high:
        raise IllegalValueError(f"{key}: the range's low ({low!r}) must be below its high ({high!r}).", key=key)
    log = value.get("log", False)
    if not isinstance(log, bool):
        raise WrongTypeError(f"{key}: 'log' takes true or false; got {describe(log)}.", key=key)
    if log and low <= 0:
        raise IllegalValueError(f"{key}: a log range needs a low above 0; got {low!r}.", key=key)
    step = value.get("step")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0 or (integer and not isinstance(step, int)):
            kind = "a positive integer" if integer else "a positive number"
            raise IllegalValueError(f"{key}: 'step' takes {kind}; got {describe(step)}.", key=key)
        if log:
            raise IllegalValueError(f"{key}: a range takes 'log' or 'step', not both.", key=key)
    return Range(low, high, integer, log, step)
