"""``TARGET_MODULES_TYPE`` and the check that turns what a user wrote into its normal form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, List, Literal, Optional

from smashconfig.text.didyoumean import did_you_mean
from smashconfig.errors import TargetModulesError, TargetModulesTypeError, describe
from smashconfig.target_modules.glob import has_wildcards

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
        hint = _dict_hint(value) if isinstance(value, (str, list, tuple)) else ""
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


def _dict_hint(value: Any) -> str:
    """The dict to write instead of a bare pattern or list of patterns (PEFT-style module names).

    A pattern matches the whole path, so a bare name such as ``q_proj`` selects only a top-level
    module; ``*.q_proj`` selects every module of that name, which is what a name means in PEFT.
    """
    patterns = [value] if isinstance(value, str) else list(value)
    if not patterns or not all(isinstance(p, str) and p for p in patterns):
        return ""
    names = [p for p in patterns if not has_wildcards(p) and "." not in p]
    fixed = [f"*.{p}" if p in names else p for p in patterns]
    hint = f" To select modules by pattern write {{'include': {fixed!r}}}"
    if names:
        hint += (
            f" (patterns match the whole path: {'*.' + names[0]!r} selects every module named {names[0]!r}; "
            f"for a top-level module or pipeline component and everything in it write {names[0] + '.*'!r})"
        )
    return hint + "."


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
