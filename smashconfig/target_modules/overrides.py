"""Per-module hyperparameters: for each targeted module, the last override rule that matches it and
sets a hyperparameter decides that hyperparameter (as in ``.gitignore``); otherwise the algorithm's
own value does. Rules never change what is targeted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

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
    """Decides each module's values for an ordered list of rules, patterns compiled once."""

    def __init__(self, rules: Sequence[Mapping[str, Any]]) -> None:
        self.rules = [Rule.of(rule) for rule in rules]
        self._excludes = [PatternSet(rule.exclude) for rule in self.rules]
        names: Dict[str, None] = {}
        for rule in self.rules:
            names.update((name, None) for name, _ in rule.values)
        # per hyperparameter: the include patterns of the rules that set it, last rule first
        self._by_name: Dict[str, Tuple[PatternSet, List[int]]] = {}
        for name in names:
            patterns: List[str] = []
            owners: List[int] = []
            for r in reversed(range(len(self.rules))):
                if any(k == name for k, _ in self.rules[r].values):
                    patterns.extend(self.rules[r].include)
                    owners.extend([r] * len(self.rules[r].include))
            self._by_name[name] = (PatternSet(patterns), owners)
        self._includes = [PatternSet(rule.include) for rule in self.rules]

    def __bool__(self) -> bool:
        return bool(self.rules)

    def rule_matches(self, r: int, path: str) -> bool:
        """Whether rule ``r`` (0-based) matches the module at ``path``."""
        return self._includes[r].first(path) is not None and self._excludes[r].first(path) is None

    def values(self, path: str, base: Mapping[str, Any]) -> ModuleValues:
        """The effective values of the module at ``path``, starting from the algorithm's ``base`` values."""
        params = dict(base)
        set_by: Dict[str, int] = {}
        for name, (patterns, owners) in self._by_name.items():
            r = self._deciding_rule(path, patterns, owners)
            if r is not None:
                params[name] = dict(self.rules[r].values)[name]
                set_by[name] = r + 1
        return ModuleValues(params, set_by)

    def _deciding_rule(self, path: str, patterns: PatternSet, owners: List[int]) -> Optional[int]:
        first = patterns.first(path)
        if first is None:
            return None
        r = owners[first]
        if self._excludes[r].first(path) is None:
            return r
        # the last rule whose include matched excludes this module: look at the earlier ones
        for earlier in reversed(range(r)):
            if earlier in owners and self.rule_matches(earlier, path):
                return earlier
        return None


def group_key(params: Mapping[str, Any]) -> Tuple[Tuple[str, str], ...]:
    """A hashable key for a set of effective values (lists and dicts compared by their text)."""
    return tuple((k, repr(v)) for k, v in sorted(params.items()))
