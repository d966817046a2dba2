"""Resolve ``target_modules`` against a model: which modules are targeted, and which pattern decided.

Cost is linear in the number of modules: the include and the exclude patterns are compiled
once, together, and every path is matched once (see :mod:`patterns`). A module shared between
several paths is targeted when any of its paths is.
"""

from __future__ import annotations

import warnings
from itertools import compress
from dataclasses import dataclass
from typing import Any, List, Optional, Union

from smashconfig.errors import NoTargetsError, TargetModulesError, TargetPatternError, TargetPatternWarning, short_repr
from smashconfig.target_modules.normalize import TARGET_MODULES_TYPE, normalize_target_modules
from smashconfig.target_modules.automaton import TooManyStates
from smashconfig.target_modules.patterns import Matcher, PatternSet
from smashconfig.target_modules.tree import ModuleIndex, index_modules, index_with_states


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
    include, exclude = PatternSet(normal["include"]), PatternSet(normal["exclude"])
    matcher = Matcher([include.patterns, exclude.patterns])
    states = None
    if isinstance(model, ModuleIndex):
        index = model
    else:
        try:
            index, states = index_with_states(model, matcher.automaton)
        except TooManyStates:
            matcher.automaton = None
            index = index_modules(model)
    paths = index.paths
    include_hit, exclude_any = matcher.hits(paths, index.parents, states)
    exclude_hit = [None if i is None else e for i, e in zip(include_hit, exclude_any)]
    targeted = list(compress(range(len(paths)), [i is not None and e is None for i, e in zip(include_hit, exclude_any)]))
    alias_paths = list(index.aliases)
    alias_hits = [matcher.first(alias) for alias in alias_paths]
    if alias_paths:
        targeted = _targeted_through_aliases(index, alias_hits, include_hit, exclude_hit, targeted)
    unmatched = []
    for g, (patterns, hits) in enumerate(((include, include_hit), (exclude, exclude_any))):
        matched = matcher.matched(g, paths, hits, alias_paths, [h[g] for h in alias_hits])
        unmatched.append([p for k, p in enumerate(patterns.patterns) if k not in matched])
    return Resolution(
        target_modules=normal,
        index=index,
        include=include,
        exclude=exclude,
        include_hit=include_hit,
        exclude_hit=exclude_hit,
        targeted=targeted,
        unmatched_include=unmatched[0],
        unmatched_exclude=unmatched[1],
    )


def _targeted_through_aliases(
    index: ModuleIndex,
    alias_hits: List[tuple],
    include_hit: List[Optional[int]],
    exclude_hit: List[Optional[int]],
    targeted: List[int],
) -> List[int]:
    """A shared module is targeted when any of its paths is; its hits are those of the path that decided."""
    chosen = set(targeted)
    for position, (inc, exc) in zip(index.aliases.values(), alias_hits):
        if position in chosen or inc is None:
            continue
        if exc is None:
            chosen.add(position)
            include_hit[position], exclude_hit[position] = inc, None
        elif include_hit[position] is None:
            include_hit[position], exclude_hit[position] = inc, exc
    return sorted(chosen)


def check_resolution(resolution: Resolution, *, key: str = "target_modules", model_name: str = "the model") -> None:
    """Raise :class:`NoTargetsError` when nothing is targeted, repeating the patterns back."""
    from smashconfig.target_modules.suggest import no_targets_message

    if not resolution.targeted:
        raise NoTargetsError(no_targets_message(resolution, key=key, model_name=model_name), key=key)


DESCRIBED_MISSES = 10
"""Unmatched patterns per list that get a hint and the nearest real paths; the others are only named."""
NAMED_MISSES = 50
"""Unmatched patterns per list named one per message; the rest are counted in one more message."""


def unmatched_pattern_warnings(resolution: Resolution, *, key: str = "target_modules", model_name: str = "the model") -> List[str]:
    """One message per include or exclude pattern that matched no module (many are summed up)."""
    from smashconfig.target_modules.suggest import describe_pattern_miss

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

