"""Resolve ``target_modules`` against a model: which modules are targeted, and which pattern decided.

Cost is linear in the number of modules: the include and the exclude patterns are each
compiled once into one regular expression, and every path is matched once against each.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, List, Optional, Union

from smashconfig.errors import NoTargetsError, TargetModulesError, TargetPatternError, TargetPatternWarning
from smashconfig.target_modules.normalize import TARGET_MODULES_TYPE, normalize_target_modules
from smashconfig.target_modules.patterns import PatternSet
from smashconfig.target_modules.tree import ModuleIndex, index_modules


@dataclass
class Resolution:
    """The outcome of matching normalised ``target_modules`` against every module of a model.

    ``include_hit[i]`` is the index of the first include pattern matching module ``i`` (or
    ``None``); ``exclude_hit[i]`` the first exclude pattern matching it, recorded for modules an
    include matched. ``targeted`` holds module indices in ``named_modules()`` order.
    """

    target_modules: TARGET_MODULES_TYPE
    index: ModuleIndex
    include: PatternSet
    exclude: PatternSet
    include_hit: List[Optional[int]]
    exclude_hit: List[Optional[int]]
    targeted: List[int]
    unmatched_include: List[str]
    unmatched_exclude: List[str]

    @property
    def paths(self) -> List[str]:
        """Targeted paths, in ``named_modules()`` order."""
        paths = self.index.paths
        return [paths[i] for i in self.targeted]


def resolve(
    target_modules: Any, model: Union[Any, ModuleIndex], *, key: str = "target_modules"
) -> Resolution:
    """Match ``target_modules`` (user form or normal form) against ``model``; never raises on no match."""
    normal = normalize_target_modules(target_modules, key=key)
    if normal is None:
        raise TargetModulesError(
            f"{key} is None, which means 'infer per algorithm'; give an algorithm "
            "(e.g. SmashConfig.resolve_target_modules) or include/exclude patterns.",
            key=key,
        )
    index = model if isinstance(model, ModuleIndex) else index_modules(model)
    include, exclude = PatternSet(normal["include"]), PatternSet(normal["exclude"])
    include_match, exclude_match = include.fullmatch(), exclude.fullmatch()
    group_index = {f"p{i}": i for i in range(max(len(include), len(exclude)))}

    n = len(index.paths)
    include_hit: List[Optional[int]] = [None] * n
    exclude_hit: List[Optional[int]] = [None] * n
    targeted: List[int] = []
    keep = targeted.append
    for i, path in enumerate(index.paths):
        subject = path + "."
        m = include_match(subject)
        if m is None:
            continue
        include_hit[i] = group_index[m.lastgroup]  # type: ignore[index]
        e = exclude_match(subject)
        if e is None:
            keep(i)
        else:
            exclude_hit[i] = group_index[e.lastgroup]  # type: ignore[index]

    return Resolution(
        target_modules=normal,
        index=index,
        include=include,
        exclude=exclude,
        include_hit=include_hit,
        exclude_hit=exclude_hit,
        targeted=targeted,
        unmatched_include=_unmatched(include, include_hit, index, include_hit),
        unmatched_exclude=_unmatched(exclude, exclude_hit, index, exclude_hit),
    )


def _unmatched(
    patterns: PatternSet, hits: List[Optional[int]], index: ModuleIndex, candidates: List[Optional[int]]
) -> List[str]:
    """Patterns that decided no module.

    An include pattern that is never the first match matches nothing, or only modules an earlier
    include pattern selected; an exclude pattern, nothing among the modules the includes
    selected, or only ones an earlier exclude removed. Only modules with a hit can hold such
    matches, so only those are checked, each pattern stopping at its first match.
    """
    seen = set(hits)
    unmatched = []
    hit_paths: Optional[List[str]] = None
    for i, pattern in enumerate(patterns.patterns):
        if i in seen:
            continue
        if hit_paths is None:
            hit_paths = [path for path, hit in zip(index.paths, candidates) if hit is not None]
        single = patterns.single(i)
        if not any(single(path + ".") is not None for path in hit_paths):
            unmatched.append(pattern)
    return unmatched


def check_resolution(resolution: Resolution, *, key: str = "target_modules", model_name: str = "the model") -> None:
    """Raise :class:`NoTargetsError` when nothing is targeted, repeating the patterns back."""
    from smashconfig.target_modules.suggest import no_targets_message

    if not resolution.targeted:
        raise NoTargetsError(no_targets_message(resolution, key=key, model_name=model_name), key=key)


def unmatched_pattern_warnings(resolution: Resolution, *, key: str = "target_modules", model_name: str = "the model") -> List[str]:
    """One message per include or exclude pattern that matched no module."""
    from smashconfig.target_modules.suggest import describe_pattern_miss

    index = resolution.index
    included = sum(hit is not None for hit in resolution.include_hit)
    return [
        f"{key}: include pattern {pattern!r} matched no module of {model_name}{describe_pattern_miss(pattern, index)}"
        for pattern in resolution.unmatched_include
    ] + [
        f"{key}: exclude pattern {pattern!r} matched none of the {included} modules the include patterns select, "
        f"so it excludes nothing{describe_pattern_miss(pattern, index)}"
        for pattern in resolution.unmatched_exclude
    ]


def emit(messages: List[str], *, strict: bool, stacklevel: int = 2) -> None:
    """Warn with each message, or under ``strict`` raise them all as one :class:`TargetPatternError`.

    ``stacklevel`` counts from the function that calls ``emit``, as for :func:`warnings.warn`.
    """
    if strict and messages:
        raise TargetPatternError("target pattern problems (strict=True):\n- " + "\n- ".join(messages))
    for message in messages:
        warnings.warn(TargetPatternWarning(message), stacklevel=stacklevel + 1)


def expand_list_of_targeted_paths(target_modules: TARGET_MODULES_TYPE, model: Any) -> List[str]:
    """The paths of ``model`` that ``target_modules`` targets, in ``named_modules()`` order.

    A module is targeted when it matches an include pattern and no exclude pattern (DESIGN.md
    section 4). Nothing matched raises :class:`NoTargetsError` naming the patterns and the nearest
    real paths; a pattern that matched nothing while others did gives a
    :class:`TargetPatternWarning`.
    """
    resolution = resolve(target_modules, model)
    name = type(model).__name__
    check_resolution(resolution, model_name=name)
    emit(unmatched_pattern_warnings(resolution, model_name=name), strict=False)
    return resolution.paths

