"""Several globs run at once as one deterministic automaton, built lazily and stepped per path component.

Each glob is a row of positions (one per token, plus an end); a state is the set of positions
reached so far, over all globs. Stepping a state over one character visits each of its
positions once, so a path costs at most (its length) x (the total length of the globs): no
pattern can make it backtrack. States and steps are memoised, and so is the step over a whole
path component from a state: module paths share their prefixes (``model.layers.7.``), and a
module's state is its parent's state stepped over ``.name``, usually one dictionary lookup.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple, Union

from smashconfig.target_modules.glob import STAR, tokens

_STAR, _END, _ANY, _NEVER = 0, 1, 2, 3
MAX_STEPS = 100_000
"""Most character steps one automaton computes; past it, :class:`TooManyStates` (callers fall back to regexes)."""


class TooManyStates(Exception):
    """Raised when an automaton would compute more than :data:`MAX_STEPS` steps."""
Test = Union[int, str, Callable[[str], object]]


def _test(token: str) -> Test:
    """What one token accepts: any character, one character, or a character class."""
    if token == ".":
        return _ANY
    if token == "(?!)":
        return _NEVER
    if len(token) == 1:
        return token
    if len(token) == 2 and token[0] == "\\":
        return token[1]
    return re.compile(token, re.DOTALL).fullmatch


class GlobAutomaton:
    """The globs ``patterns`` (in order); :meth:`first_of` says which matches first in a state."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self._tests: List[Test] = []
        self._owner: List[int] = []
        starts = []
        for k, pattern in enumerate(patterns):
            starts.append(len(self._tests))
            for token in tokens(pattern):
                self._tests.append(_STAR if token is STAR else _test(token))
                self._owner.append(k)
            self._tests.append(_END)
            self._owner.append(k)
        self._ids: Dict[FrozenSet[int], int] = {}
        self._sets: List[FrozenSet[int]] = []
        self._accepted: List[Optional[Tuple[int, ...]]] = []
        self._char_steps: Dict[Tuple[int, str], int] = {}
        self.name_steps: Dict[Tuple[int, str], int] = {}
        """(state, component) → state after ``"." + component``; read directly in hot loops."""
        self.start = self._intern(self._closure(starts))

    @property
    def size(self) -> int:
        """Number of positions (tokens plus one end per glob)."""
        return len(self._tests)

    def _closure(self, positions: Iterable[int]) -> FrozenSet[int]:
        found = set()
        tests = self._tests
        for pos in positions:
            found.add(pos)
            if tests[pos] is _STAR:  # runs of * are collapsed: the next position is not a star
                found.add(pos + 1)
        return frozenset(found)

    def _intern(self, positions: FrozenSet[int]) -> int:
        state = self._ids.get(positions)
        if state is None:
            state = self._ids[positions] = len(self._sets)
            self._sets.append(positions)
            self._accepted.append(None)
        return state

    def step(self, state: int, char: str) -> int:
        """The state after ``char``."""
        key = (state, char)
        found = self._char_steps.get(key)
        if found is not None:
            return found
        if len(self._char_steps) >= MAX_STEPS:
            raise TooManyStates(f"more than {MAX_STEPS} automaton steps")
        tests = self._tests
        reached = []
        for pos in self._sets[state]:
            test = tests[pos]
            if test is _STAR:
                reached.append(pos)
            elif test is _END or test is _NEVER:
                continue
            elif test is _ANY or (test == char if type(test) is str else test(char)):  # noqa: E721
                reached.append(pos + 1)
        found = self._char_steps[key] = self._intern(self._closure(reached))
        return found

    def run(self, text: str, state: Optional[int] = None) -> int:
        """The state after ``text`` (from the start, or from ``state``)."""
        state = self.start if state is None else state
        step = self.step
        for char in text:
            state = step(state, char)
        return state

    def child(self, state: int, name: str) -> int:
        """The state after ``"." + name`` from ``state`` (a module's state from its parent's)."""
        key = (state, name)
        found = self.name_steps.get(key)
        if found is None:
            steps, step = self._char_steps, self.step
            found = steps.get((state, "."))
            if found is None:
                found = step(state, ".")
            for char in name:
                here = steps.get((found, char))
                found = step(found, char) if here is None else here
            self.name_steps[key] = found
        return found

    def accepted(self, state: int) -> Tuple[int, ...]:
        """The globs (indices, ascending) that match the text read into ``state``, or it followed by a dot."""
        found = self._accepted[state]
        if found is None:
            owner, tests = self._owner, self._tests
            ends = {owner[pos] for pos in self._sets[state] if tests[pos] is _END}
            dotted = self.step(state, ".")
            ends.update(owner[pos] for pos in self._sets[dotted] if tests[pos] is _END)
            found = self._accepted[state] = tuple(sorted(ends))
        return found

    def first_of(self, state: int) -> Optional[int]:
        """The first glob that matches the text read into ``state``, or that text followed by a dot."""
        accepted = self.accepted(state)
        return accepted[0] if accepted else None

    def states(self, paths: Sequence[str]) -> List[int]:
        """The state of each path; a path's parent, when listed earlier, is stepped from instead of re-read."""
        seen: Dict[str, int] = {}
        out = []
        keep = out.append
        name_steps, child, run = self.name_steps, self.child, self.run
        for path in paths:
            parent, dot, name = path.rpartition(".")
            if dot:
                state = seen.get(parent)
                if state is None:
                    state = run(parent)
                found = name_steps.get((state, name))
                state = child(state, name) if found is None else found
            else:
                state = run(path)
            seen[path] = state
            keep(state)
        return out

    def states_from_parents(self, paths: Sequence[str], parents: Sequence[int]) -> List[int]:
        """The state of each path, ``parents[i]`` being the position of path ``i``'s parent (-1: top level)."""
        out: List[int] = []
        keep = out.append
        name_steps, child, run = self.name_steps, self.child, self.run
        for path, parent in zip(paths, parents):
            if parent < 0:
                keep(run(path))
                continue
            state = out[parent]
            name = path[len(paths[parent]) + 1 :]
            found = name_steps.get((state, name))
            keep(child(state, name) if found is None else found)
        return out
