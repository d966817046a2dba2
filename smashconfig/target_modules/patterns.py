"""Lists of glob patterns compiled once and matched against module paths, never backtracking.

A pattern matches a module when it matches the module's path, or the path followed by a dot
(so ``attention.*`` selects ``attention`` itself too). A pattern without wildcards costs one
dictionary lookup. The others run together in a :class:`GlobAutomaton` that steps each module
from its parent's state; when they are too many for that (thousands), they are matched path by
path with regular expressions that cannot backtrack (see :mod:`glob`). Either way the cost is
linear in the length of each path.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from smashconfig.target_modules.automaton import GlobAutomaton, TooManyStates
from smashconfig.target_modules.glob import literal_text, tokens
from smashconfig.target_modules.sieve import PatternGroup, matched_by_text

AUTOMATON_POSITIONS = 2048
"""Largest automaton (tokens of all wildcard patterns) stepped per module; beyond it, regexes."""
Hits = List[Optional[int]]


def _earliest(a: Optional[int], b: Optional[int]) -> Optional[int]:
    return b if a is None else a if b is None else min(a, b)


class Matcher:
    """Several ordered pattern lists (``include``, ``exclude``) matched in one pass over the modules."""

    def __init__(self, lists: Sequence[Sequence[str]]) -> None:
        size = sum(len(tokens(p)) + 1 for patterns in lists for p in patterns)
        small = size <= AUTOMATON_POSITIONS  # then even literal patterns run in the automaton
        self.groups = [PatternGroup(patterns, lookup_literals=not small) for patterns in lists]
        flat = [p for group in self.groups for _, p in group.wild]
        self._owner = [(g, i) for g, group in enumerate(self.groups) for i, _ in group.wild]
        self.automaton: Optional[GlobAutomaton] = None
        if flat and sum(len(tokens(p)) + 1 for p in flat) <= AUTOMATON_POSITIONS:
            self.automaton = GlobAutomaton(flat)
        self._verdicts: Dict[int, Tuple[Optional[int], ...]] = {}
        self.states: Optional[List[int]] = None
        self.path_states: Dict[str, int] = {}
        """Path → automaton state, for every path :meth:`state_of` has stepped to."""
        self._distinct: Optional[Set[int]] = None
        self._has_literals = any(group.literal for group in self.groups)

    def _verdict(self, state: int) -> Tuple[Optional[int], ...]:
        """First pattern of each list that the text read into ``state`` matches."""
        found = self._verdicts.get(state)
        if found is None:
            firsts: List[Optional[int]] = [None] * len(self.groups)
            for k in self.automaton.accepted(state):  # type: ignore[union-attr]
                g, i = self._owner[k]
                firsts[g] = _earliest(firsts[g], i)
            found = self._verdicts[state] = tuple(firsts)
        return found

    def first(self, path: str) -> Tuple[Optional[int], ...]:
        """For each list, the index of its first pattern that matches ``path``, or ``None``."""
        wild: Tuple[Optional[int], ...] = ()
        if self.automaton is not None:
            try:
                wild = self._verdict(self.automaton.run(path))
            except TooManyStates:
                self.automaton = None
        if self.automaton is None:
            wild = tuple(group.regex_first(path) if group.wild else None for group in self.groups)
        return tuple(_earliest(w, group.literal.get(path)) for w, group in zip(wild, self.groups))

    def first_of_module(self, path: str) -> Tuple[Optional[int], ...]:
        """:meth:`first` for a module path, stepped from its parent's remembered state where that decides."""
        state = self.state_of(path)
        return self._verdict(state) if state is not None else self.first(path)

    def state_of(self, path: str) -> Optional[int]:
        """The automaton state of ``path``, or ``None`` when it alone does not decide :meth:`first`.

        Paths are stepped from their parent's state, remembered by path, so the paths of one
        model cost about one dictionary lookup each, called in any order.
        """
        known = self.path_states
        state = known.get(path)
        if state is not None:
            return state
        return self.step_to(path)

    def step_to(self, path: str) -> Optional[int]:
        """:meth:`state_of` a path not stepped to yet."""
        known = self.path_states
        automaton = self.automaton
        if automaton is None or self._has_literals:
            return None
        parent, dot, name = path.rpartition(".")
        above = known.get(parent) if dot else None
        if above is not None:
            state = automaton.by_state[above].get(name)
            if state is None:
                state = self._stepped(automaton.child, above, name)
        else:
            state = self._stepped(self._walk_down, path)
        if state is not None:
            known[path] = state
        return state

    def _stepped(self, step: Callable, *args: Any) -> Optional[int]:
        try:
            return step(*args)
        except TooManyStates:
            self.automaton = None
            return None

    def _walk_down(self, path: str) -> int:
        """The state of ``path``, from its nearest ancestor with a known state (each one on the way remembered)."""
        automaton, known = self.automaton, self.path_states
        pending: List[Tuple[str, str]] = []
        head = path
        while True:
            parent, dot, name = head.rpartition(".")
            if not dot:
                state = known[head] = automaton.run(head)  # type: ignore[union-attr]
                break
            pending.append((head, name))
            state = known.get(parent)  # type: ignore[assignment]
            if state is not None:
                break
            head = parent
        for here, name in reversed(pending):
            state = known[here] = automaton.child(state, name)  # type: ignore[union-attr]
        return state

    def verdict(self, state: int) -> Tuple[Optional[int], ...]:
        """:meth:`first` of every path whose :meth:`state_of` is ``state``."""
        return self._verdict(state)

    def hits(
        self, paths: Sequence[str], parents: Optional[Sequence[int]] = None, states: Optional[List[int]] = None
    ) -> List[Hits]:
        """For each list, the first pattern matching each path.

        ``parents[i]``: position of path ``i``'s parent (-1 at the top), so each path is stepped
        from its parent; ``states``: the automaton states of the paths, already computed.
        """
        found = self._columns(paths, parents, states)
        if found is not None:
            states, columns = found
            out = [list(map(column.__getitem__, states)) for column in columns]
        else:
            out = [group.regex_hits(paths) for group in self.groups]
        for group, hits in zip(self.groups, out):
            literal = group.literal
            if literal:
                for k, path in enumerate(paths):
                    i = literal.get(path)
                    if i is not None:
                        hits[k] = _earliest(hits[k], i)
        return out

    def columns(
        self, paths: Sequence[str], parents: Optional[Sequence[int]] = None, states: Optional[List[int]] = None
    ) -> Optional[Tuple[List[int], List[Hits]]]:
        """The automaton state of each path, and for each list, its first pattern matching each state
        (a column indexed by state); ``None`` when the automaton alone does not decide (then see :meth:`hits`).

        Arguments as for :meth:`hits`.
        """
        if self._has_literals:
            return None
        return self._columns(paths, parents, states)

    def _columns(
        self, paths: Sequence[str], parents: Optional[Sequence[int]], states: Optional[List[int]]
    ) -> Optional[Tuple[List[int], List[Hits]]]:
        if states is None or len(states) != len(paths):
            states = self._states(paths, parents)
        self.states = states
        self._distinct = None
        if states is None:
            return None
        distinct = self._distinct = set(states)
        columns: List[Hits] = [[None] * len(self.automaton._sets) for _ in self.groups]  # type: ignore[union-attr]
        for state in distinct:
            for column, first in zip(columns, self._verdict(state)):
                column[state] = first
        return states, columns

    def _states(self, paths: Sequence[str], parents: Optional[Sequence[int]]) -> Optional[List[int]]:
        automaton = self.automaton
        if automaton is None:
            return None
        try:
            if parents is None or len(parents) != len(paths):
                return automaton.states(paths)
            return automaton.states_from_parents(paths, parents)
        except TooManyStates:
            self.automaton = None
            return None

    def matched(
        self, g: int, paths: Sequence[str], hits: Hits, extra: Sequence[str] = (), extra_hits: Hits = ()
    ) -> Set[int]:
        """Indices of list ``g``'s patterns that match at least one of ``paths`` or ``extra``.

        ``hits``/``extra_hits``: the first hits from :meth:`hits`/:meth:`first` for those paths.
        """
        group = self.groups[g]
        found = self._matched(g, paths, hits, extra, extra_hits)
        return {k for k, first in enumerate(group.canonical) if first in found}

    def _matched(self, g: int, paths: Sequence[str], hits: Hits, extra: Sequence[str], extra_hits: Hits) -> Set[int]:
        group = self.groups[g]
        found = {i for i in hits if i is not None} | {i for i in extra_hits if i is not None}
        if group.literal and len(found) < len(group.patterns):
            present = set(paths).union(extra)
            for i, pattern in enumerate(group.patterns):
                text = literal_text(pattern) if group.canonical[i] == i and i not in found else None
                if text is not None and (text in present or (text.endswith(".") and text[:-1] in present)):
                    found.add(i)
        left = [(i, p) for i, p in group.wild if i not in found]
        if not left:
            return found
        states = self.states
        if self.automaton is not None and states is not None and len(states) == len(paths):
            try:
                distinct = (self._distinct or set(states)).union(self.automaton.run(path) for path in extra)
                reached: Set[int] = set()
                for state in distinct:
                    reached.update(self.automaton.accepted(state))
            except TooManyStates:
                pass
            else:
                owned = {self._owner[k] for k in reached}
                found.update(i for i, _ in left if (g, i) in owned)
                return found
        found.update(matched_by_text(left, list(paths) + list(extra)))
        return found


class PatternSet:
    """One ordered list of patterns; :meth:`first` says which one matches a path first."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)
        self._matcher: Optional[Matcher] = None
        self._singles: Dict[int, "PatternSet"] = {}

    @property
    def matcher(self) -> Matcher:
        """The compiled patterns (compiled on first use: a set only listed is never compiled)."""
        if self._matcher is None:
            self._matcher = Matcher([self.patterns])
        return self._matcher

    def __len__(self) -> int:
        return len(self.patterns)

    def first(self, path: str) -> Optional[int]:
        """Index of the first pattern that matches ``path``, or ``None``."""
        return self.matcher.first(path)[0]

    def matches(self, i: int, path: str) -> bool:
        """Whether pattern ``i`` matches ``path``."""
        return self._single(i).first(path) is not None

    def _single(self, i: int) -> "PatternSet":
        found = self._singles.get(i)
        if found is None:
            found = self._singles[i] = PatternSet([self.patterns[i]])
        return found

    def single(self, i: int) -> Callable[[str], Optional["Hit"]]:
        """The :meth:`fullmatch` of pattern ``i`` alone (called on ``path + "."``)."""
        return self._single(i).fullmatch()

    def fullmatch(self) -> Callable[[str], Optional["Hit"]]:
        """The matcher called on ``path + "."``: ``None``, or a hit whose ``lastgroup`` is ``"p<index>"``."""
        first = self.first

        def match(subject: str) -> Optional[Hit]:
            found = first(subject[:-1])
            return None if found is None else Hit(found)

        return match


class Hit:
    """Which pattern matched, named as a regex group would be (``lastgroup == "p3"``)."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    @property
    def lastgroup(self) -> str:
        return f"p{self.index}"


def index_of(match: Hit) -> int:
    """The pattern index a :meth:`PatternSet.fullmatch` hit came from."""
    return match.index
