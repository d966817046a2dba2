"""``explain_targets``: for every module, whether it is targeted and the rule that decided it."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import asdict, dataclass, replace
from itertools import repeat
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union, overload

from smashconfig.target_modules.normalize import TARGET_MODULES_TYPE
from smashconfig.target_modules.rules import InstalledAlgorithms, RulesLookup, TargetRules

if TYPE_CHECKING:
    from smashconfig.target_modules.decide import TargetDecision


NO_INCLUDE = "no include pattern matched"


class TargetRecord(NamedTuple):
    """One module's outcome: ``rule`` says what decided it; ``acts``/``reason`` what the algorithm does.

    A read-only record (a named tuple, so that a record per module of a 100,000-module model is cheap)."""

    path: str
    type: str
    container: bool
    targeted: bool
    rule: str
    pattern: Optional[str] = None
    acts: Optional[bool] = None
    reason: Optional[str] = None
    values: Optional[Dict[str, Any]] = None
    """The hyperparameters it is smashed with (acted-on modules only)."""
    set_by: Optional[Dict[str, int]] = None
    """Hyperparameter → the number (1-based) of the override rule that set it; ``None`` when no rule did."""


@dataclass
class Explanation(Sequence[TargetRecord]):
    """The records of every module (``named_modules()`` order) and the warnings the patterns raise."""

    records: List[TargetRecord]
    target_modules: TARGET_MODULES_TYPE
    inferred: bool
    key: str
    model: str
    algorithm: Optional[str]
    warnings: List[str]

    def __len__(self) -> int:
        return len(self.records)

    @overload
    def __getitem__(self, i: int) -> TargetRecord: ...

    @overload
    def __getitem__(self, i: slice) -> List[TargetRecord]: ...

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        return self.records[i]

    def __iter__(self) -> Iterator[TargetRecord]:
        return iter(self.records)

    def record(self, path: str) -> TargetRecord:
        """The record of the module at ``path``."""
        from smashconfig.text.didyoumean import did_you_mean
        from smashconfig.errors import UnknownPathError

        for record in self.records:
            if record.path == path:
                return record
        raise UnknownPathError(
            f"{self.model} has no module {path!r} (paths are as in named_modules(), the root not listed)."
            + did_you_mean(path, (record.path for record in self.records)),
            key=path,
        )

    @property
    def targeted(self) -> List[str]:
        return [r.path for r in self.records if r.targeted]

    def render(self) -> str:
        """A compact view: repeated blocks folded into index ranges, one line per outcome."""
        from smashconfig.target_modules.explain_render import render_explanation

        return render_explanation(self)

    def __str__(self) -> str:
        return self.render()

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(replace(self, records=[]))
        data["records"] = [r._asdict() for r in self.records]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1) + "\n"


def explain_targets(
    target_modules: Optional[Mapping[str, Any]],
    model: Any,
    algorithm: Union[str, TargetRules, None] = None,
    *,
    params: Optional[Mapping[str, Any]] = None,
    overrides: Sequence[Mapping[str, Any]] = (),
    strict: bool = False,
    registry: Optional[RulesLookup] = None,
) -> Explanation:
    """One record per module of ``model``: targeted or not, and the rule that decided it.

    With ``algorithm``, also whether it acts on each module or skips it and why (for its
    hyperparameters ``params`` and override rules ``overrides``), and each acted-on module's
    values with the rule that set each; ``target_modules=None`` then explains its inferred
    defaults. ``algorithm`` is an algorithm or its name, looked up in ``registry`` (a config's
    ``cfg.registry``; the installed algorithms by default). The classic pattern mistakes are
    :class:`~smashconfig.errors.TargetPatternWarning` warnings (also listed in ``.warnings``);
    ``strict=True`` raises them as one error instead.
    """
    from smashconfig.target_modules.decide import decide_targets
    from smashconfig.target_modules.messages import emit

    lookup: RulesLookup = registry if registry is not None else InstalledAlgorithms()
    if isinstance(algorithm, str) or (algorithm is not None and not hasattr(algorithm, "skip_reason")):
        algorithm = lookup.get(algorithm)  # type: ignore[arg-type]
    if params is None:
        params = algorithm.default_params() if algorithm is not None else {}
    params = {k: v for k, v in params.items() if k not in ("target_modules", "overrides")}
    decision = decide_targets(
        model, target_modules, algorithm, params, overrides=overrides, changed_by=lookup.changed_by
    )
    messages = list(decision.warnings)
    if decision.no_targets is not None:
        messages.insert(0, decision.no_targets)
    emit(messages, strict=strict)
    return Explanation(
        records=_records(decision, algorithm is not None),
        target_modules=decision.target_modules,
        inferred=decision.inferred,
        key=decision.key,
        model=decision.model_name,
        algorithm=algorithm.name if algorithm is not None else None,
        warnings=messages,
    )


def _records(decision: "TargetDecision", with_algorithm: bool) -> List[TargetRecord]:
    """Build the records column by column (a record per module of a 100,000-module model stays cheap)."""
    from smashconfig.target_modules.acting import is_container

    index, resolution, split = decision.index, decision.resolution, decision.split
    n = len(index.paths)
    include, exclude = resolution.include.patterns, resolution.exclude.patterns
    pairs = list(zip(resolution.include_hit, resolution.exclude_hit))
    pattern_of: Dict[Tuple[Optional[int], Optional[int]], Optional[str]] = {}
    rule_of: Dict[Tuple[Optional[int], Optional[int]], str] = {}
    for pair in set(pairs):  # few distinct (include, exclude) pairs: each worked out once
        h, e = pair
        pattern_of[pair] = exclude[e] if e is not None else (include[h] if h is not None else None)
        rule_of[pair] = (
            f"excluded by {exclude[e]!r}" if e is not None else (f"targeted by {include[h]!r}" if h is not None else NO_INCLUDE)
        )
    patterns = list(map(pattern_of.__getitem__, pairs))
    rules = decision.default_rules if decision.default_rules is not None else list(map(rule_of.__getitem__, pairs))
    targeted = [False] * n
    deque(map(targeted.__setitem__, resolution.targeted, repeat(True)), maxlen=0)
    modules = index.modules
    containers = [False] * n  # only a module with submodules may be one
    for i in index.with_submodules():  # without parameters of its own, it is one
        containers[i] = not modules[i]._parameters or is_container(modules[i])
    acts: List[Optional[bool]] = [None] * n
    reasons: List[Optional[str]] = [None] * n
    values: List[Optional[Dict[str, Any]]] = [None] * n
    set_by: List[Optional[Dict[str, int]]] = [None] * n
    if with_algorithm:
        acts = [False] * n
        reasons = ["container" if c else "not targeted" for c in containers]
        for i in split.acted:
            acts[i], reasons[i] = True, None
        for i, reason in split.skipped.items():
            reasons[i] = reason
        for group in decision.groups:
            for i in group.members:
                values[i] = group.params
        for i, module_values in decision.values.items():
            if module_values.set_by and acts[i]:
                set_by[i] = module_values.set_by
    types = list(map(attrgetter("__name__"), map(type, modules)))
    columns = zip(index.paths, types, containers, targeted, rules, patterns, acts, reasons, values, set_by)
    return list(map(tuple.__new__, repeat(TargetRecord), columns))  # each record made without a Python call
