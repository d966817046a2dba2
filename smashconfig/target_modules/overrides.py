"""Per-module hyperparameters: for each targeted module, the last override rule that matches it and
sets a hyperparameter decides that hyperparameter (as in ``.gitignore``); otherwise the algorithm's
own value does. Rules never change what is targeted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, TypeVar

from smashconfig.target_modules.automaton import TooManyStates
from smashconfig.target_modules.patterns import Matcher, PatternSet

RULE_PATTERN_KEYS = ("include", "exclude")
T = TypeVar("T")


@dataclass(frozen=True)
class Rule:
    """One override rule in normal form: patterns, and the values it sets (unprefixed names)."""

    include: Tuple[str, ...]
    exclude: Tuple[str, ...]
    values: Tuple[Tuple[str, Any], ...]

    @classmethod
    def of(cls, rule: Mapping[str, Any]) -> "Rule":
        """A rule from its dict form (``{"include": [...], "exclude": [...], "weight_bits": ...}``), already checked."""
        include = rule["include"]
        exclude = rule.get("exclude", [])
        return cls(
            include=(include,) if isinstance(include, str) else tuple(include),
            exclude=(exclude,) if isinstance(exclude, str) else tuple(exclude),
            values=tuple((k, v) for k, v in rule.items() if k not in RULE_PATTERN_KEYS),
        )


@dataclass
class ModuleValues:
    """A module's effective hyperparameters and, for each overridden one, the number (1-based) of the rule that set it."""

    params: Dict[str, Any]
    set_by: Dict[str, int] = field(default_factory=dict)


class OverrideMatcher:
    """Decides each module's values for an ordered list of rules, patterns compiled once.

    Every rule's include and exclude patterns run in one automaton; a module's state in it
    (stepped from its parent's) says which rules match it, so modules in the same state share
    one decision, computed once. When the rules are too many for an automaton, per
    hyperparameter the include patterns of the rules that set it are combined, last rule first,
    so one match finds the deciding rule. Modules decided by the same rules share one
    :class:`ModuleValues`.
    """

    def __init__(self, rules: Sequence[Mapping[str, Any]]) -> None:
        self.rules = [Rule.of(rule) for rule in rules]
        self._values = [dict(rule.values) for rule in self.rules]
        self._excludes = [PatternSet(rule.exclude) if rule.exclude else None for rule in self.rules]
        self._includes = [PatternSet(rule.include) for rule in self.rules]
        names: Dict[str, None] = {}
        for values in self._values:
            names.update(dict.fromkeys(values))
        self._by_name: List[Tuple[str, PatternSet, List[int]]] = []
        self._setters: List[List[int]] = []
        """Per hyperparameter, the rules that set it, last rule first."""
        for name in names:
            patterns: List[str] = []
            owners: List[int] = []
            setters = [r for r in reversed(range(len(self.rules))) if name in self._values[r]]
            for r in setters:
                patterns.extend(self.rules[r].include)
                owners.extend([r] * len(self.rules[r].include))
            self._by_name.append((name, PatternSet(patterns), owners))
            self._setters.append(setters)
        self._cache: Dict[Tuple[Optional[int], ...], ModuleValues] = {}
        self._together = _together(self.rules)
        self._by_state: Dict[int, ModuleValues] = {}
        self._rules_by_state: Dict[int, Tuple[int, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def rule_matches(self, r: int, path: str) -> bool:
        """Whether rule ``r`` (0-based) matches the module at ``path``."""
        exclude = self._excludes[r]
        return self._includes[r].first(path) is not None and (exclude is None or exclude.first(path) is None)

    def matching_rules(self, path: str) -> Tuple[int, ...]:
        """The rules (0-based, ascending) that match the module at ``path``."""
        state = self._state(path)
        found = None if state is None else self._by_automaton(lambda: self._rules_for(state))
        if found is None:
            return tuple(r for r in range(len(self.rules)) if self.rule_matches(r, path))
        return found

    def rules_matching_any(self, paths: Sequence[str]) -> Optional[Set[int]]:
        """The rules that match at least one of ``paths``, looked up once per automaton state;
        ``None`` without an automaton."""
        together = self._together
        if together is None:
            return None
        states = set(map(together.path_states.get, paths))  # paths already seen cost one lookup
        if None in states:
            states.discard(None)
            for path in paths:
                if path not in together.path_states:
                    state = self._state(path)
                    if state is None:
                        return None
                    states.add(state)
        return self._by_automaton(lambda: set().union(*map(self._rules_for, states)))

    def values(self, path: str, base: Mapping[str, Any]) -> ModuleValues:
        """The effective values of the module at ``path``, starting from the algorithm's ``base`` values
        (the same ``base`` for every call on one matcher)."""
        state = self._state(path)  # None without an automaton: then path by path, from now on
        if state is not None:
            found = self._by_state.get(state)
            if found is None:
                found = self._by_automaton(lambda: self._decided(self._deciding_in(state), base))
                if found is not None:
                    self._by_state[state] = found
            if found is not None:
                return found
        deciding = tuple(self._deciding_rule(path, patterns, owners) for _, patterns, owners in self._by_name)
        return self._decided(deciding, base)

    def _state(self, path: str) -> Optional[int]:
        """``path``'s state in the automaton of all rules' patterns, ``None`` without one."""
        together = self._together
        if together is None:
            return None
        state = together.state_of(path)
        if state is None:
            self._together = None
        return state

    def _rules_for(self, state: int) -> Tuple[int, ...]:
        found = self._rules_by_state.get(state)
        if found is None:
            found = self._rules_by_state[state] = self._rules_in(state)
        return found

    def _by_automaton(self, work: Callable[[], T]) -> Optional[T]:
        """``work()``, or ``None`` when the automaton grows too large for it (then it is dropped)."""
        try:
            return work()
        except TooManyStates:
            self._together = None
            return None

    def _rules_in(self, state: int) -> Tuple[int, ...]:
        """The rules matching every module in ``state``: an include matches, no exclude does."""
        verdict = self._together.verdict(state)  # type: ignore[union-attr]
        return tuple(r for r in range(len(self.rules)) if verdict[2 * r] is not None and verdict[2 * r + 1] is None)

    def _deciding_in(self, state: int) -> Tuple[Optional[int], ...]:
        """Per hyperparameter, the last matching rule that sets it, for every module in ``state``."""
        matching = set(self._rules_for(state))
        return tuple(next((r for r in setters if r in matching), None) for setters in self._setters)

    def _decided(self, deciding: Tuple[Optional[int], ...], base: Mapping[str, Any]) -> ModuleValues:
        found = self._cache.get(deciding)
        if found is None:
            params = dict(base)
            set_by: Dict[str, int] = {}
            for (name, _, _), r in zip(self._by_name, deciding):
                if r is not None:
                    params[name] = self._values[r][name]
                    set_by[name] = r + 1
            found = self._cache[deciding] = ModuleValues(params, set_by)
        return found

    def _deciding_rule(self, path: str, patterns: PatternSet, owners: List[int]) -> Optional[int]:
        first = patterns.first(path)
        if first is None:
            return None
        r = owners[first]
        exclude = self._excludes[r]
        if exclude is None or exclude.first(path) is None:
            return r
        # the last rule whose include matched excludes this module: look at the earlier ones
        for earlier in sorted({o for o in owners if o < r}, reverse=True):
            if self.rule_matches(earlier, path):
                return earlier
        return None


def _together(rules: Sequence[Rule]) -> Optional[Matcher]:
    """One matcher for every rule's include and exclude patterns (lists ``2r`` and ``2r + 1``), if an
    automaton can run them all; ``None`` otherwise."""
    if not rules:
        return None
    matcher = Matcher([patterns for rule in rules for patterns in (rule.include, rule.exclude)])
    return matcher if matcher.automaton is not None and not any(g.literal for g in matcher.groups) else None


def rules_matching_nothing(matcher: OverrideMatcher, paths: Sequence[str], known: Iterable[int] = ()) -> List[int]:
    """The rules (0-based) that match none of ``paths``; ``known`` ones are known to match.

    The rules matching each automaton state are looked up once per state or, without an
    automaton, each path is matched against the combined includes of the rules still unseen
    (the set shrinks as rules are seen), stopping when every rule has matched.
    """
    unseen = set(range(len(matcher.rules))).difference(known)
    if not unseen:
        return []
    matching = matcher.rules_matching_any(paths)
    if matching is None:
        return _unseen_by_combined(matcher, paths, sorted(unseen))
    return sorted(unseen - matching)


def _unseen_by_combined(matcher: OverrideMatcher, paths: Sequence[str], unseen: List[int]) -> List[int]:
    combined, owners = _combined(matcher, unseen)
    for path in paths:
        while True:  # until no rule left unseen matches this path
            first = combined.first(path)
            if first is None:
                break
            r = owners[first]
            hit = [r] if matcher.rule_matches(r, path) else [r for r in unseen if matcher.rule_matches(r, path)]
            if not hit:
                break
            unseen = [r for r in unseen if r not in hit]
            if not unseen:
                return []
            combined, owners = _combined(matcher, unseen)
    return unseen


def _combined(matcher: OverrideMatcher, rules: List[int]) -> Tuple[PatternSet, List[int]]:
    patterns: List[str] = []
    owners: List[int] = []
    for r in rules:
        patterns.extend(matcher.rules[r].include)
        owners.extend([r] * len(matcher.rules[r].include))
    return PatternSet(patterns), owners


def group_key(params: Mapping[str, Any]) -> Tuple[Tuple[str, str], ...]:
    """A hashable key for a set of effective values (lists and dicts compared by their text)."""
    return tuple((k, repr(v)) for k, v in sorted(params.items()))
