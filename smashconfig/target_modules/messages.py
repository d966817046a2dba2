"""What a resolution says: nothing targeted (an error), patterns that matched nothing (warnings)."""

from __future__ import annotations

import warnings
from typing import List

from smashconfig.errors import NoTargetsError, TargetPatternError, TargetPatternWarning, short_repr
from smashconfig.target_modules.resolve import Resolution
from smashconfig.target_modules.suggest import describe_pattern_miss, no_targets_message


def check_resolution(resolution: Resolution, *, key: str = "target_modules", model_name: str = "the model") -> None:
    """Raise :class:`NoTargetsError` when nothing is targeted, repeating the patterns back."""
    if not resolution.targeted:
        raise NoTargetsError(no_targets_message(resolution, key=key, model_name=model_name), key=key)


DESCRIBED_MISSES = 10
"""Unmatched patterns per list that get a hint and the nearest real paths; the others are only named."""
NAMED_MISSES = 50
"""Unmatched patterns per list named one per message; the rest are counted in one more message."""


def unmatched_pattern_warnings(resolution: Resolution, *, key: str = "target_modules", model_name: str = "the model") -> List[str]:
    """One message per include or exclude pattern that matched no module (many are summed up)."""
    messages = []
    for kind, unmatched in (("include", resolution.unmatched_include), ("exclude", resolution.unmatched_exclude)):
        for n, pattern in enumerate(unmatched[:NAMED_MISSES]):
            detail = describe_pattern_miss(pattern, resolution.index) if n < DESCRIBED_MISSES else ""
            messages.append(f"{key}: {kind} pattern {short_repr(pattern)} matched no module of {model_name}{detail}")
        if len(unmatched) > NAMED_MISSES:
            messages.append(
                f"{key}: {len(unmatched) - NAMED_MISSES} more {kind} patterns matched no module of {model_name}"
            )
    return messages


def emit(messages: List[str], *, strict: bool, stacklevel: int = 2) -> None:
    """Warn with each message, or under ``strict`` raise them all as one :class:`TargetPatternError`.

    ``stacklevel`` counts from the function that calls ``emit``, as for :func:`warnings.warn`.
    """
    if strict and messages:
        numbered = "; ".join(f"({n}) {message}" for n, message in enumerate(messages, 1))
        raise TargetPatternError(f"{len(messages)} target pattern problem(s), refused under strict=True: {numbered}")
    for message in messages:
        warnings.warn(TargetPatternWarning(message), stacklevel=stacklevel + 1)
