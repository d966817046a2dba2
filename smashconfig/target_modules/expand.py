"""``expand_list_of_targeted_paths``: the paths a ``target_modules`` dict selects, nothing more."""

from __future__ import annotations

from typing import Any, List

from smashconfig.target_modules.messages import check_resolution, emit, unmatched_pattern_warnings
from smashconfig.target_modules.normalize import TARGET_MODULES_TYPE
from smashconfig.target_modules.resolve import resolve


def expand_list_of_targeted_paths(target_modules: TARGET_MODULES_TYPE, model: Any) -> List[str]:
    """The paths of ``model`` that ``target_modules`` targets, in ``named_modules()`` order.

    A module is targeted when it matches an include pattern and no exclude pattern.
    Nothing matched raises :class:`NoTargetsError` naming the patterns and the nearest
    real paths; a pattern that matched nothing while others did gives a
    :class:`TargetPatternWarning`.
    """
    resolution = resolve(target_modules, model)
    name = type(model).__name__
    check_resolution(resolution, model_name=name)
    emit(unmatched_pattern_warnings(resolution, model_name=name), strict=False)
    return resolution.paths

