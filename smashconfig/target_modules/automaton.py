"""Several globs run at once as one deterministic automaton, built lazily and stepped per path component.

Each glob is a row of positions (one per token, plus an end); a state is the set of positions
reached so far, over all globs, held as the bits of one integer. Stepping a state over a
character is a few operations on those integers (shift-and): the positions that accept the
character move on by one, the stars stay. A path costs at most (its length) x (the total
length of the globs) bit operations, so no pattern can make it backtrack. States and steps are
memoised, and so is the step over a whole path component from a state: module paths share
their prefixes (``model.layers.7.``), and a module's state is its parent's state stepped over
``.name``, usually one dictionary lookup.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

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
        self._owner: List[int] = []
        self._stars = self._ends = self._any = 0
        self._literal: Dict[str, int] = {}
        self._classes: List[Tuple[int, Callable[[str], object]]] = []
        starts = 0
        for k, pattern in enumerate(patterns):
            starts |= 1 << len(self._owner)
            for token in tokens(pattern):
                self._add(_STAR if token is STAR else _test(token), k)
            self._ends |= 1 << len(self._owner)
            self._owner.append(k)
        self._accepting: Dict[str, int] = {}
        self._ids: Dict[int, int] = {}
        self._sets: List[int] = []
        self._accepted: List[Optional[Tuple[int, ...]]] = []
        self._char_steps: Dict[Tuple[int, str], int] = {}
        self._names: List[Dict[str, int]] = []
        self.by_state = self._names
        """State → :meth:`transitions` of that state; read directly in hot loops."""
        self._top: Dict[str, int] = {}
        self.start = self._intern(self._closure(starts))

    def _add(self, test: Test, owner: int) -> None:
        """One more position, for ``test``."""
        bit = 1 << len(self._owner)
        self._owner.append(owner)
        if test is _STAR:
            self._stars |= bit
        elif test is _ANY:
            self._any |= bit
        elif type(test) is str:  # noqa: E721
            self._literal[test] = self._literal.get(test, 0) | bit  # type: ignore[index]
        elif test is not _NEVER:
            self._classes.append((bit, test))  # type: ignore[arg-type]

    @property
    def size(self) -> int:
        """Number of positions (tokens plus one end per glob)."""
        return len(self._owner)

    def _closure(self, positions: int) -> int:
        # runs of * are collapsed: the position after a star is not a star
        return positions | ((positions & self._stars) << 1)

    def _intern(self, positions: int) -> int:
        state = self._ids.get(positions)
        if state is None:
            state = self._ids[positions] = len(self._sets)
            self._sets.append(positions)
            self._accepted.append(None)
            self._names.append({})
        return state

    def _accepting_positions(self, char: str) -> int:
        """The positions (not stars, not ends) whose token accepts ``char``."""
        found = self._accepting.get(char)
        if found is None:
            found = self._literal.get(char, 0) | self._any
            for bit, test in self._classes:
                if test(char):
                    found |= bit
            self._accepting[char] = found
        return found

    def step(self, state: int, char: str) -> int:
        """The state after ``char``."""
        key = (state, char)
        found = self._char_steps.get(key)
        if found is not None:
            return found
        if len(self._char_steps) >= MAX_STEPS:
            raise TooManyStates(f"more than {MAX_STEPS} automaton steps")
        positions = self._sets[state]
        reached = (positions & self._stars) | ((positions & self._accepting_positions(char)) << 1)
        found = self._char_steps[key] = self._intern(self._closure(reached))
        return found

    def run(self, text: str, state: Optional[int] = None) -> int:
        """The state after ``text`` (from the start, or from ``state``)."""
        state = self.start if state is None else state
        step = self.step
        for char in text:
            state = step(state, char)
        return state

    def child(self, state: Optional[int], name: str) -> int:
        """The state after ``"." + name`` from ``state`` (a module's state from its parent's); from
        ``None``, the state of the top-level path ``name``."""
        names = self.transitions(state)
        found = names.get(name)
        if found is None:
            # a name's prefix is often a sibling's name (``layers.12`` after ``layers.1``): step from it
            before = names.get(name[:-1]) if len(name) > 1 else None
            if before is not None:
                found = self.step(before, name[-1])
            elif state is None:
                found = self.run(name)
            else:
                found = self.run(name, self.step(state, "."))
            names[name] = found
        return found

    def transitions(self, state: Optional[int]) -> Dict[str, int]:
        """Component → state after ``"." + component`` from ``state`` (from ``None``: top-level paths),
        as far as computed; read directly in hot loops, :meth:`child` on a miss."""
        return self._top if state is None else self._names[state]

    def accepted(self, state: int) -> Tuple[int, ...]:
        """The globs (indices, ascending) that match the text read into ``state``, or it followed by a dot."""
        found = self._accepted[state]
        if found is None:
            ends = (self._sets[state] | self._sets[self.step(state, ".")]) & self._ends
            owners = set()
            while ends:
                low = ends & -ends
                owners.add(self._owner[low.bit_length() - 1])
                ends ^= low
            found = self._accepted[state] = tuple(sorted(owners))
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
        child, run, names = self.child, self.run, self._names
        for path in paths:
            parent, dot, name = path.rpartition(".")
            if dot:
                state = seen.get(parent)
                if state is None:
                    state = run(parent)
                found = names[state].get(name)
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
        child, run, names = self.child, self.run, self._names
        for path, parent in zip(paths, parents):
            if parent < 0:
                keep(run(path))
                continue
            state = out[parent]
            name = path[len(paths[parent]) + 1 :]
            found = names[state].get(name)
            keep(child(state, name) if found is None else found)
        return out
