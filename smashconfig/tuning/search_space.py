"""A search file: a config whose lists mean "choose among" and whose ranges mean "search within".

It narrows the registered ConfigurationSpace (``cfg.space``): a group key may list the
algorithms to choose among (``quantizer: [quanto, null]``, ``null`` for none); each algorithm's
section gives its hyperparameters as dimensions (see :mod:`smashconfig.tuning.dimensions`);
hyperparameters it leaves out keep their defaults. ``optional_overrides`` lists override rules
(the items of ``<algorithm>_overrides``) that each trial switches on or off. ``objectives``
names what to optimise. A plain config file is a search with one point.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

from smashconfig.config.from_dict import hyperparameter_entries
from smashconfig.config.smash_config import SmashConfig
from smashconfig.contract.hyperparameters import check_value
from smashconfig.contract.registry import Registry, default_registry
from smashconfig.errors import GroupConflictError, IllegalValueError, SmashConfigError, UnknownKeyError, WrongTypeError, describe
from smashconfig.text.didyoumean import did_you_mean
from smashconfig.tuning.dimensions import Choice, Dimension, Fixed, Range, dimension

if TYPE_CHECKING:
    import optuna

OPTIONAL_OVERRIDES = "optional_overrides"


@dataclass(frozen=True)
class AlgorithmSearch:
    """What the search varies for one algorithm: its hyperparameters, and override rules to switch on."""

    name: str
    params: Dict[str, Dimension] = field(default_factory=dict)
    optional_overrides: Tuple[Dict[str, Any], ...] = ()


@dataclass(frozen=True)
class SearchSpace:
    """The parsed search: group choices, each algorithm's dimensions, and the objectives asked for."""

    groups: Dict[str, Tuple[Optional[str], ...]]
    algorithms: Dict[str, AlgorithmSearch]
    objectives: Optional[Tuple[str, ...]] = None
    name: str = "search"

    def sample(self, trial: "optuna.Trial") -> SmashConfig:
        """The config for one trial: Optuna suggests every dimension that is active in it."""
        nested: Dict[str, Dict[str, Any]] = {}
        for group, choices in self.groups.items():
            chosen = Choice(choices).suggest(trial, group) if len(choices) > 1 else choices[0]
            if chosen is None:
                continue
            search = self.algorithms[chosen]
            params = {hp: dim.suggest(trial, f"{chosen}_{hp}") for hp, dim in search.params.items()}
            rules = [
                rule
                for i, rule in enumerate(search.optional_overrides)
                if trial.suggest_categorical(f"{chosen}_overrides_{i}", [False, True])
            ]
            if rules:
                params["overrides"] = list(params.get("overrides") or []) + rules
            nested[chosen] = params
        return SmashConfig.from_dict(nested)

    def size(self) -> Optional[int]:
        """How many distinct configs the search holds (``None`` when a float range makes it unbounded)."""
        total = 1
        for choices in self.groups.values():
            counts = [1 if chosen is None else _points(self.algorithms[chosen]) for chosen in choices]
            if None in counts:
                return None
            total *= sum(counts)  # type: ignore[arg-type]
        return total

    def to_dict(self) -> Dict[str, Any]:
        """A canonical, JSON-serialisable description (what makes two searches the same search)."""
        return {
            "groups": {g: list(c) for g, c in self.groups.items()},
            "algorithms": {
                name: {
                    "params": {hp: dim.describe() for hp, dim in search.params.items()},
                    OPTIONAL_OVERRIDES: list(search.optional_overrides),
                }
                for name, search in self.algorithms.items()
            },
            "objectives": list(self.objectives) if self.objectives else None,
        }

    def fingerprint(self) -> str:
        """A short digest of :meth:`to_dict`."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _points(search: AlgorithmSearch) -> Optional[int]:
    n = 2 ** len(search.optional_overrides)
    for dim in search.params.values():
        if isinstance(dim, Choice):
            n *= len(dim.values)
        elif isinstance(dim, Range):
            if not dim.integer:
                return None
            n *= int(dim.high - dim.low) // int(dim.step or 1) + 1
    return n


def parse_search(data: Any, *, name: str = "search", registry: Optional[Registry] = None) -> SearchSpace:
    """Check a search document (the mapping read from the file) and return its :class:`SearchSpace`.

    Every error is raised here, before any trial, and carries ``location`` (the key path in the
    document) so that file loaders can point at its line.
    """
    registry = registry or default_registry()
    if not isinstance(data, Mapping):
        raise WrongTypeError(
            "a search must be a mapping like a config, such as {'quanto': {'weight_bits': ['qint8', 'qfloat8']}}; "
            f"got {describe(data)}."
        )
    objectives = _objectives(data.get("objectives"))
    sections, group_lists = _split(data, registry)
    groups: Dict[str, Tuple[Optional[str], ...]] = {}
    for group, members in registry.groups().items():
        named = [n for n in members if n in sections]
        if group in group_lists:
            choices = group_lists[group]
            stray = [n for n in named if n not in choices]
            if stray:
                raise _at(
                    GroupConflictError(
                        f"{stray[0]!r} has a section but {group!r} does not list it among {list(choices)}; "
                        "add it or drop the section.",
                        key=stray[0],
                    ),
                    (stray[0],),
                )
            groups[group] = choices
        elif len(named) > 1:
            raise _at(
                GroupConflictError(
                    f"{named[0]!r} and {named[1]!r} are both {group}s; to search among them write "
                    f"'{group}: [{named[0]}, {named[1]}]'.",
                    key=group,
                ),
                (named[1],),
            )
        elif named:
            groups[group] = (named[0],)
    algorithms = {n: _algorithm(n, sections.get(n) or {}, registry) for c in groups.values() for n in c if n is not None}
    if not algorithms:
        raise IllegalValueError(
            "the search names no algorithm; give at least one section such as 'quanto: {weight_bits: [qint8, qfloat8]}'."
        )
    return SearchSpace(groups, algorithms, objectives, name)


def _objectives(value: Any) -> Optional[Tuple[str, ...]]:
    from smashconfig.tuning.objectives import check_objective_names

    if value is None:
        return None
    try:
        return tuple(check_objective_names(value))
    except SmashConfigError as error:
        raise _at(error, ("objectives",))


def _split(data: Mapping, registry: Registry) -> Tuple[Dict[str, Dict[str, Any]], Dict[str, Tuple[Optional[str], ...]]]:
    """Algorithm sections (flat ``<algorithm>_<hyperparameter>`` keys folded in) and group choice lists."""
    algorithms = registry.algorithms()
    keys = registry.keys()
    sections: Dict[str, Dict[str, Any]] = {}
    group_lists: Dict[str, Tuple[Optional[str], ...]] = {}
    for top, value in data.items():
        if top == "objectives":
            continue
        if isinstance(top, str) and top in algorithms:
            if value is not None and not isinstance(value, Mapping):
                message = f"{top!r} must map its hyperparameters to values, lists or ranges; got {describe(value)}."
                raise _at(WrongTypeError(message, key=top), (top,))
            sections.setdefault(top, {}).update(value or {})
        elif isinstance(top, str) and top in keys and keys[top].is_group:
            group_lists[top] = _group_choices(top, value, registry)
        elif isinstance(top, str) and top in keys:
            spec = keys[top]
            sections.setdefault(spec.algorithm, {})[spec.name] = value  # type: ignore[index]
        else:
            known = list(algorithms) + list(keys) + ["objectives"]
            raise _at(
                UnknownKeyError(
                    f"unknown key {top!r}; a search's keys are algorithm names ({', '.join(map(repr, algorithms))}), group keys "
                    f"({', '.join(map(repr, registry.groups()))}), '<algorithm>_<hyperparameter>' and 'objectives'."
                    + (did_you_mean(top, known) if isinstance(top, str) else ""),
                    key=str(top),
                ),
                (str(top),),
            )
    return sections, group_lists


def _group_choices(group: str, value: Any, registry: Registry) -> Tuple[Optional[str], ...]:
    members = registry.groups()[group]
    items = value if isinstance(value, list) else [value]
    if not items:
        message = f"{group} = [] offers nothing to choose; list algorithms ({', '.join(members)}) or null."
        raise _at(IllegalValueError(message, key=group), (group,))
    for item in items:
        if item is not None and item not in members:
            hint = did_you_mean(item, members) if isinstance(item, str) else ""
            message = f"{group} = {item!r} is not allowed; {group} takes one of {members + [None]}.{hint}"
            raise _at(IllegalValueError(message, key=group), (group,))
    return tuple(dict.fromkeys(items))


def _algorithm(name: str, section: Dict[str, Any], registry: Registry) -> AlgorithmSearch:
    """Check one algorithm's section: each value against its hyperparameter, then whole configs at its corners."""
    section = dict(section)
    rules = section.pop(OPTIONAL_OVERRIDES, None)
    keys = registry.keys()
    params: Dict[str, Dimension] = {}
    for entry in hyperparameter_entries(name, section, registry):
        try:
            params[entry.location[-1]] = dimension(keys[entry.key].hyperparameter, entry.value, entry.key)
        except SmashConfigError as error:
            raise _at(error, entry.location)
    optional = _optional_overrides(name, rules, registry)
    for corner in (0, -1):
        values = {hp: _corner(dim, corner) for hp, dim in params.items()}
        if optional:
            values["overrides"] = list(values.get("overrides") or []) + list(optional)
        try:
            SmashConfig.from_dict({name: values})
        except SmashConfigError as error:
            raise _at(error, error.location or (name,))
    return AlgorithmSearch(name, params, optional)


def _optional_overrides(name: str, rules: Any, registry: Registry) -> Tuple[Dict[str, Any], ...]:
    if rules is None:
        return ()
    where = (name, OPTIONAL_OVERRIDES)
    if f"{name}_overrides" not in registry.keys():
        message = f"{name}.{OPTIONAL_OVERRIDES}: {name!r} has no per-module overrides ('{name}_overrides') to switch on."
        raise _at(IllegalValueError(message, key=f"{name}_overrides"), where)
    if not isinstance(rules, list) or not rules or not all(isinstance(r, Mapping) for r in rules):
        message = (
            f"{name}.{OPTIONAL_OVERRIDES} takes a list of override rules such as "
            f"{{include: ['*.0.*'], weight_bits: qint8}}; got {describe(rules)}."
        )
        raise _at(WrongTypeError(message, key=f"{name}_overrides"), where)
    key = f"{name}_{OPTIONAL_OVERRIDES}"
    try:
        return tuple(check_value(registry.keys()[f"{name}_overrides"].hyperparameter, rules, key))
    except SmashConfigError as error:
        raise _at(error, where)


def _corner(dim: Dimension, end: int) -> Any:
    if isinstance(dim, Fixed):
        return dim.value
    if isinstance(dim, Choice):
        return dim.values[end]
    return dim.low if end == 0 else dim.high


def _at(error: SmashConfigError, location: Tuple[str, ...]) -> SmashConfigError:
    error.location = error.location or location
    return error
