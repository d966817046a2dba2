"""Resolve ``target_modules`` against a model: which modules are targeted, and which pattern decided.

Cost is linear in the number of modules: the include and the exclude patterns are compiled
once, together, and every path is matched once (see :mod:`patterns`). A module shared between
several paths is targeted when any of its paths is.
"""

from __future__ import annotations

from itertools import compress
from typing import Any, Callable, List, Optional, Tuple, Union

from smashconfig.errors import TargetModulesError
from smashconfig.target_modules.normalize import TARGET_MODULES_TYPE, normalize_target_modules
from smashconfig.target_modules.automaton import TooManyStates
from smashconfig.target_modules.patterns import Matcher, PatternSet
from smashconfig.target_modules.tree import ModuleIndex, index_modules, index_with_states

Hits = List[Optional[int]]


class Resolution:
    """The outcome of matching normalised ``target_modules`` against every module of a model.

    ``include_hit[i]`` is the index of the first include pattern matching module ``i`` (or
    ``None``); ``exclude_hit[i]`` the first exclude pattern matching it, recorded for modules an
    include matched. ``targeted`` holds module indices in ``named_modules()`` order. The two hit
    lists may be given as ``None`` with ``hits``, which lists them when first asked for
    (planning rarely needs them).
    """

    def __init__(
        self,
        target_modules: TARGET_MODULES_TYPE,
        index: ModuleIndex,
        include: PatternSet,
        exclude: PatternSet,
        include_hit: Optional[Hits],
        exclude_hit: Optional[Hits],
        targeted: List[int],
        unmatched_include: List[str],
        unmatched_exclude: List[str],
        hits: Optional[Callable[[], Tuple[Hits, Hits]]] = None,
    ) -> None:
        self.target_modules = target_modules
        self.index = index
        self.include = include
        self.exclude = exclude
        self.targeted = targeted
        self.unmatched_include = unmatched_include
        self.unmatched_exclude = unmatched_exclude
        self._lists = None if include_hit is None or exclude_hit is None else (include_hit, exclude_hit)
        self._hits = hits

    @property
    def include_hit(self) -> Hits:
        return self._hit_lists()[0]

    @property
    def exclude_hit(self) -> Hits:
        return self._hit_lists()[1]

    def _hit_lists(self) -> Tuple[Hits, Hits]:
        if self._lists is None:
            self._lists = self._hits()  # type: ignore[misc]
        return self._lists

    def __repr__(self) -> str:
        return f"Resolution(target_modules={self.target_modules!r}, targeted={len(self.targeted)} of {len(self.index)} modules)"

    @property
    def paths(self) -> List[str]:
        """Targeted paths, in ``named_modules()`` order."""
        return list(map(self.index.paths.__getitem__, self.targeted))


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
    found = matcher.columns(paths, index.parents, states)
    if found is not None:  # decided per automaton state: a few list operations over all modules
        targeted, hits = _by_state(*found)
        first_hits: List[Hits] = [[], []]  # ``matched`` reads the states instead
    else:
        first_hits = matcher.hits(paths, index.parents, states)
        include_hit, exclude_any = first_hits
        exclude_hit = [None if i is None else e for i, e in zip(include_hit, exclude_any)]
        targeted = list(compress(range(len(paths)), [i is not None and e is None for i, e in zip(include_hit, exclude_any)]))
        hits = lambda: (include_hit, exclude_hit)  # noqa: E731
    alias_paths = list(index.aliases)
    alias_hits = [matcher.first(alias) for alias in alias_paths]
    if alias_paths:
        hit_lists = hits()
        targeted = _targeted_through_aliases(index, alias_hits, *hit_lists, targeted)
        hits = lambda: hit_lists  # noqa: E731
    unmatched = []
    for g, (patterns, firsts) in enumerate(zip((include, exclude), first_hits)):
        matched = matcher.matched(g, paths, firsts, alias_paths, [h[g] for h in alias_hits])
        unmatched.append([p for k, p in enumerate(patterns.patterns) if k not in matched])
    return Resolution(
        target_modules=normal,
        index=index,
        include=include,
        exclude=exclude,
        include_hit=None,
        exclude_hit=None,
        targeted=targeted,
        unmatched_include=unmatched[0],
        unmatched_exclude=unmatched[1],
        hits=hits,
    )


def _by_state(states: List[int], columns: List[Hits]) -> Tuple[List[int], Callable[[], Tuple[Hits, Hits]]]:
    """``targeted``, and how to list ``include_hit`` and ``exclude_hit``, from each module's state
    and the first hits per state."""
    include_column, exclude_column = columns
    chosen = [i is not None and e is None for i, e in zip(include_column, exclude_column)]

    def hits() -> Tuple[Hits, Hits]:
        excluded = [None if i is None else e for i, e in zip(include_column, exclude_column)]
        return list(map(include_column.__getitem__, states)), list(map(excluded.__getitem__, states))

    return list(compress(range(len(states)), map(chosen.__getitem__, states))), hits


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
