"""``TARGET_MODULES_TYPE`` and the check that turns what a user wrote into its normal form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, List, Literal, Optional

from smashconfig.text.didyoumean import did_you_mean
from smashconfig.errors import TargetModulesError, TargetModulesTypeError, describe

TARGET_MODULES_TYPE = Dict[Literal["include", "exclude"], List[str]]
"""``{"include": [glob, ...], "exclude": [glob, ...]}``: a module is targeted when it matches an include glob and no exclude glob."""

TARGET_KEYS = ("include", "exclude")
SHAPE = "None or a dict with 'include' and/or 'exclude' (each a glob pattern or a list of them)"


def normalize_target_modules(value: Any, *, key: str = "target_modules") -> Optional[TARGET_MODULES_TYPE]:
    """Check ``value`` and return its normal form: a new dict with both keys, lists of patterns.

    ``None`` stays ``None`` (defaults are inferred per model). A missing ``include`` becomes
    ``["*"]``, a missing ``exclude`` ``[]``, a single string a one-item list. The given value is
    never modified.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        hint = ""
        if isinstance(value, (str, list, tuple)):
            hint = f" To select modules by pattern write {{'include': {list([value] if isinstance(value, str) else value)!r}}}."
        raise TargetModulesTypeError(f"{key} must be {SHAPE}; got {describe(value)}.{hint}", key=key)
    for k in value:
        if k not in TARGET_KEYS:
            shown = k if isinstance(k, str) else repr(k)
            raise TargetModulesError(
                f"{key} has the key {shown!r}; the allowed keys are 'include' and 'exclude'."
                + (did_you_mean(k, TARGET_KEYS) if isinstance(k, str) else ""),
                key=key,
            )
    include = _patterns(value["include"], f"{key}.include") if "include" in value else ["*"]
    exclude = _patterns(value["exclude"], f"{key}.exclude") if "exclude" in value else []
    if not include:
        raise TargetModulesError(
            f"{key}.include is an empty list, which would select nothing; leave 'include' out to select every "
            "module (['*']), or give at least one pattern.",
            key=key,
        )
    return {"include": include, "exclude": exclude}


def _patterns(value: Any, where: str) -> List[str]:
    if isinstance(value, str):
        value = [value]
    elif not isinstance(value, (list, tuple)):
        raise TargetModulesTypeError(
            f"{where} must be a glob pattern or a list of glob patterns; got {describe(value)}.", key=where
        )
    patterns = []
    for i, pattern in enumerate(value):
        if not isinstance(pattern, str):
            raise TargetModulesTypeError(
                f"{where}[{i}] must be a string glob pattern such as 'model.layers.*'; got {describe(pattern)}.",
                key=where,
            )
        if not pattern:
            raise TargetModulesError(
                f"{where}[{i}] is an empty pattern, which matches no module path; remove it or write a glob such as '*'.",
                key=where,
            )
        patterns.append(pattern)
    return patterns
