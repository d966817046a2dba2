"""Per-module hyperparameters: for each targeted module, the last override rule that matches it and
sets a hyperparameter decides that hyperparameter (as in ``.gitignore``); otherwise the algorithm's
own value does. Rules never change what is targeted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from smashconfig.target_modules.patterns import PatternSet

RULE_PATTERN_KEYS = ("include", "exclude")


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

    Per hyperparameter, the include patterns of the rules that set it are combined, last rule
    first, so one match finds the deciding rule; modules decided by the same rules share one
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
        for name in names:
            patterns: List[str] = []
            owners: List[int] = []
            for r in reversed(range(len(self.rules))):
                if name in self._values[r]:
                    patterns.extend(self.rules[r].include)
                    owners.extend([r] * len(self.rules[r].include))
            self._by_name.append((name, PatternSet(patterns), owners))
        self._cache: Dict[Tuple[Optional[int], ...], ModuleValues] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def rule_matches(self, r: int, path: str) -> bool:
        """Whether rule ``r`` (0-based) matches the module at ``path``."""
        exclude = self._excludes[r]
        return self._includes[r].first(path) is not None and (exclude is None or exclude.first(path) is None)

    def values(self, path: str, base: Mapping[str, Any]) -> ModuleValues:
        """The effective values of the module at ``path``, starting from the algorithm's ``base`` values
        (the same ``base`` for every call on one matcher)."""
        deciding = tuple(self._deciding_rule(path, patterns, owners) for _, patterns, owners in self._by_name)
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


def rules_matching_nothing(matcher: OverrideMatcher, paths: Sequence[str], known: Iterable[int] = ()) -> List[int]:
    """The rules (0-based) that match none of ``paths``; ``known`` ones are known to match.

    One scan: each path is matched against the combined includes of the rules still unseen, and
    the set shrinks as rules are seen.
    """
    unseen = [r for r in range(len(matcher.rules)) if r not in set(known)]
    if not unseen:
        return []
    combined, owners = _combined(matcher, unseen)
    for path in paths:
        first = combined.first(path)
        if first is None:
            continue
        hit = [owners[first]] if matcher.rule_matches(owners[first], path) else [r for r in unseen if matcher.rule_matches(r, path)]
        if hit:
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
