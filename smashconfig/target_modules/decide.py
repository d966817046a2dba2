"""``decide_targets``: the one function that decides, for a model and one algorithm's settings, what is
targeted, what the algorithm acts on and with which hyperparameters, what it skips and why, and
what is worth a warning. Planning, explaining, verifying a plan and linting all call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from smashconfig.target_modules.acting import Acting, Split, is_container
from smashconfig.target_modules.census import take_census
from smashconfig.target_modules.coverage import Coverage, low_coverage_warning, measure_coverage
from smashconfig.target_modules.defaults import DefaultTargets, infer_default_targets, output_heads
from smashconfig.target_modules.lint import LintContext, lint
from smashconfig.target_modules.overrides import ModuleValues, OverrideMatcher, group_key, rules_matching_nothing
from smashconfig.target_modules.patterns import PatternSet
from smashconfig.target_modules.resolve import Resolution, resolve
from smashconfig.target_modules.rules import ChangedBy, TargetRules, no_module_changed
from smashconfig.target_modules.suggest import no_targets_message
from smashconfig.target_modules.tree import ModuleIndex, index_modules


@dataclass
class TargetGroup:
    """Acted-on modules (indices) that share their effective hyperparameters."""

    params: Dict[str, Any]
    members: List[int]


@dataclass
class TargetDecision:
    """Everything decided for one algorithm on one model; module indices refer to ``index``."""

    key: str
    model_name: str
    index: ModuleIndex
    resolution: Resolution
    inferred: bool
    default_rules: Optional[List[str]]
    split: Split
    groups: List[TargetGroup]
    values: Dict[int, ModuleValues]
    """Per acted or skipped module: its effective values and the rule that set each (empty without overrides)."""
    warnings: List[str] = field(default_factory=list)
    coverage: Optional[Coverage] = None
    """What share of the model's parameters the algorithm acts on (with an algorithm only)."""
    coverage_warning: Optional[str] = None
    no_targets: Optional[str] = None
    """Why nothing is targeted (the patterns and the nearest real paths); ``None`` when something is."""

    @property
    def target_modules(self) -> Dict[str, List[str]]:
        """The patterns as written (normal form), or the inferred ones."""
        return self.resolution.target_modules

    def paths(self, indices: Sequence[int]) -> List[str]:
        names = self.index.paths
        return [names[i] for i in indices]

    @property
    def targeted(self) -> List[str]:
        return self.resolution.paths

    @property
    def acted(self) -> List[str]:
        return self.paths(self.split.acted)

    @property
    def skipped(self) -> Dict[str, str]:
        names = self.index.paths
        return {names[i]: reason for i, reason in self.split.skipped.items()}


def decide_targets(
    model: Any,
    target_modules: Optional[Mapping[str, Any]],
    algorithm: Optional[TargetRules] = None,
    params: Optional[Mapping[str, Any]] = None,
    *,
    overrides: Sequence[Mapping[str, Any]] = (),
    key: Optional[str] = None,
    index: Optional[ModuleIndex] = None,
    changed_by: ChangedBy = no_module_changed,
    check: bool = True,
) -> TargetDecision:
    """Decide ``algorithm``'s targets on ``model``.

    ``target_modules`` is the user's value (``None``: inferred per model and algorithm, which needs
    an algorithm); ``params`` the algorithm's own values; ``overrides`` its checked rules.
    ``check=False`` skips the pattern lint (for re-resolving a plan that was linted when made).
    Never raises for patterns that select nothing: ``no_targets`` says why.
    """
    key = key or (f"{algorithm.name}_target_modules" if algorithm is not None else "target_modules")
    params = dict(params or {})
    defaults = resolution = None
    if target_modules is None:
        if algorithm is None:
            from smashconfig.errors import TargetModulesError

            raise TargetModulesError(
                "target_modules is None, which means 'inferred per algorithm': give an algorithm "
                "(e.g. algorithm='quanto') to infer its defaults, or give include/exclude patterns.",
                key=key,
            )
    else:  # without an index, the walk that indexes the model also matches the patterns
        resolution = resolve(target_modules, index if index is not None else model, key=key)
        index = resolution.index
    index = index if index is not None else index_modules(model)
    census = heads = None
    if algorithm is not None:  # the census serves the defaults, the head search and the coverage
        census = take_census(index)
        heads = output_heads(model, index, census)
    acting = Acting(index, algorithm, params, changed_by)
    if resolution is None:
        defaults = infer_default_targets(model, algorithm, index, changed_by, acting=acting, heads=heads)
        resolution = _inferred_resolution(defaults)
    model_name = type(model).__name__
    matcher = OverrideMatcher(overrides)
    values = _values(index, resolution.targeted, matcher, params)
    split = acting.split(resolution.targeted, {i: v.params for i, v in values.items()})
    decision = TargetDecision(
        key=key,
        model_name=model_name,
        index=index,
        resolution=resolution,
        inferred=defaults is not None,
        default_rules=defaults.rules if defaults is not None else None,
        split=split,
        groups=_groups(split.acted, values, params),
        values=values if matcher else {},
    )
    if not resolution.targeted:
        decision.no_targets = no_targets_message(resolution, key=key, model_name=model_name)
    if algorithm is not None:
        decision.coverage = measure_coverage(census, index, split.acted, set(heads), _why_untouched(decision, acting))
        if getattr(algorithm, "warns_on_low_coverage", True):
            decision.coverage_warning = low_coverage_warning(decision.coverage, algorithm.name, key)
    if check:
        if heads is None:  # without an algorithm, the heads matter only among the modules it would act on
            heads = output_heads(model, index) if split.acted else {}
        decision.warnings = _warnings(decision, acting, matcher, algorithm, heads)
    return decision


def _inferred_resolution(defaults: DefaultTargets) -> Resolution:
    """What resolving the inferred patterns gives, known without matching them: each include
    pattern selects exactly its members (checked when the patterns were made), and the excluded
    output heads are selected by no include pattern."""
    index = defaults.index
    include_hit: List[Optional[int]] = [None] * len(index)
    for k, members in enumerate(defaults.members):
        for i in members:
            include_hit[i] = k
    normal = defaults.target_modules
    return Resolution(
        target_modules=normal,
        index=index,
        include=PatternSet(normal["include"]),
        exclude=PatternSet(normal["exclude"]),
        include_hit=include_hit,
        exclude_hit=[None] * len(index),
        targeted=sorted(i for members in defaults.members for i in members),
        unmatched_include=[],
        unmatched_exclude=[],
    )


def _why_untouched(decision: TargetDecision, acting: Acting) -> Any:
    """Module index → why the algorithm leaves it alone, for the coverage report."""
    skipped, targeted = decision.split.skipped, set(decision.resolution.targeted)

    def why(i: int) -> Optional[str]:
        if i in skipped:
            return skipped[i]
        reason = acting.reason(i)
        if is_container(decision.index.modules[i]):
            return reason or "holds parameters of its own beside its submodules, and only leaf layers are acted on"
        if i not in targeted:
            return f"not targeted; {reason}" if reason else "not targeted"
        return reason

    return why


def _values(index: ModuleIndex, targeted: List[int], matcher: OverrideMatcher, base: Dict[str, Any]) -> Dict[int, ModuleValues]:
    """Effective values of every targeted leaf (only when there are rules)."""
    if not matcher:
        return {}
    paths, modules = index.paths, index.modules
    return {i: matcher.values(paths[i], base) for i in targeted if not is_container(modules[i])}


def _groups(acted: List[int], values: Dict[int, ModuleValues], base: Dict[str, Any]) -> List[TargetGroup]:
    """Acted-on modules grouped by effective values, groups in order of their first module."""
    if not values:
        return [TargetGroup(dict(base), list(acted))] if acted else []
    groups: Dict[Any, TargetGroup] = {}
    keys: Dict[int, Any] = {}  # modules decided by the same rules share one ModuleValues: key it once
    for i in acted:
        module_values = values[i]
        k = keys.get(id(module_values))
        if k is None:
            k = keys[id(module_values)] = group_key(module_values.params)
        group = groups.get(k)
        if group is None:
            groups[k] = group = TargetGroup(dict(module_values.params), [])
        group.members.append(i)
    return list(groups.values())


def _warnings(
    decision: TargetDecision, acting: Acting, matcher: OverrideMatcher, algorithm: Optional[TargetRules], heads: Dict[str, str]
) -> List[str]:
    """Pattern mistakes (for patterns the user wrote; inferred ones are exact) and override rules that match nothing."""
    messages: List[str] = []
    if not decision.inferred:
        context = LintContext(
            resolution=decision.resolution,
            acted=set(decision.split.acted),
            actable=acting.actable,
            heads=heads,
            key=decision.key,
            model_name=decision.model_name,
            algorithm=algorithm.name if algorithm is not None else None,
        )
        messages += lint(context)
    if matcher and decision.resolution.targeted:
        messages += _unmatched_rules(decision, matcher)
    return messages


def _unmatched_rules(decision: TargetDecision, matcher: OverrideMatcher) -> List[str]:
    prefix = decision.key[: -len("target_modules")] if decision.key.endswith("target_modules") else ""
    used = {r - 1 for v in decision.values.values() for r in v.set_by.values()}
    messages = []
    for r in rules_matching_nothing(matcher, decision.targeted, used):
        rule = matcher.rules[r]
        messages.append(
            f"{prefix}overrides: rule {r + 1} (include {list(rule.include)}"
            f"{', exclude ' + str(list(rule.exclude)) if rule.exclude else ''}) matches no module that "
            f"{decision.key} targets on {decision.model_name}; rules never add targets"
        )
    return messages

