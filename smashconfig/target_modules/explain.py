"""``explain_targets``: for every module, whether it is targeted and the rule that decided it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Sequence, Set, Union, overload

from smashconfig.errors import TargetModulesError
from smashconfig.target_modules.normalize import TARGET_MODULES_TYPE

if TYPE_CHECKING:
    from smashconfig.target_modules.acting import Split
    from smashconfig.contract.algorithm import Algorithm
    from smashconfig.target_modules.resolve import Resolution
    from smashconfig.target_modules.tree import ModuleIndex


NO_INCLUDE = "no include pattern matched"


@dataclass(slots=True)
class TargetRecord:
    """One module's outcome: ``rule`` says what decided it; ``acts``/``reason`` what the algorithm does."""

    path: str
    type: str
    container: bool
    targeted: bool
    rule: str
    pattern: Optional[str] = None
    acts: Optional[bool] = None
    reason: Optional[str] = None


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
        from smashconfig.target_modules.fold import render_explanation

        return render_explanation(self)

    def __str__(self) -> str:
        return self.render()

    def to_dict(self) -> Dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "records"}
        data["records"] = [asdict(r) for r in self.records]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1) + "\n"


def explain_targets(
    target_modules: Optional[Mapping[str, Any]],
    model: Any,
    algorithm: Union[str, "Algorithm", None] = None,
    *,
    params: Optional[Mapping[str, Any]] = None,
    strict: bool = False,
) -> Explanation:
    """One record per module of ``model``: targeted or not, and the rule that decided it.

    With ``algorithm`` (a name or an :class:`~smashconfig.Algorithm`), also whether it acts on
    each module or skips it and why (for its hyperparameters ``params``, defaults otherwise);
    ``target_modules=None`` then explains its inferred defaults. The classic pattern mistakes
    are :class:`~smashconfig.errors.TargetPatternWarning` warnings (also listed in
    ``.warnings``); ``strict=True`` raises them as one error instead.
    """
    from smashconfig.target_modules.acting import split_targets
    from smashconfig.target_modules.defaults import infer_default_targets
    from smashconfig.contract.registry import default_registry
    from smashconfig.target_modules.lint import check_targets
    from smashconfig.target_modules.resolve import emit, resolve
    from smashconfig.target_modules.suggest import no_targets_message
    from smashconfig.target_modules.tree import index_modules

    chosen = default_registry().get(algorithm) if isinstance(algorithm, str) else algorithm
    key = f"{chosen.name}_target_modules" if chosen is not None else "target_modules"
    index = index_modules(model)
    defaults = None
    if target_modules is None:
        if chosen is None:
            raise TargetModulesError(
                "target_modules is None, which means 'inferred per algorithm': pass algorithm='quanto' "
                "(or another algorithm) to explain its defaults, or give include/exclude patterns.",
                key=key,
            )
        defaults = infer_default_targets(model, chosen, index)
        target_modules = defaults.target_modules
    resolution = resolve(target_modules, index, key=key)
    params = dict(params) if params is not None else (chosen.default_params() if chosen is not None else {})

    split = split_targets(index, resolution.targeted, chosen, params)
    records = _records(index, resolution, split, defaults.rules if defaults is not None else None, chosen is not None)

    model_name = type(model).__name__
    inferred = defaults is not None  # inferred patterns are exact by construction: nothing to warn about
    messages = [] if inferred else check_targets(model, resolution, set(split.acted), chosen, params, key)
    if not resolution.targeted:
        messages.insert(0, no_targets_message(resolution, key=key, model_name=model_name))
    emit(messages, strict=strict)
    return Explanation(
        records=records,
        target_modules=resolution.target_modules,
        inferred=inferred,
        key=key,
        model=model_name,
        algorithm=chosen.name if chosen is not None else None,
        warnings=messages,
    )


def _records(
    index: "ModuleIndex", resolution: "Resolution", split: "Split", default_rules: Optional[List[str]], with_algorithm: bool
) -> List[TargetRecord]:
    """Build the records column by column (a record per module of a 100,000-module model stays cheap)."""
    n = len(index.paths)
    include, exclude = resolution.include.patterns, resolution.exclude.patterns
    include_rules = [f"targeted by {p!r}" for p in include]
    exclude_rules = [f"excluded by {p!r}" for p in exclude]
    pairs = list(zip(resolution.include_hit, resolution.exclude_hit))
    patterns = [exclude[e] if e is not None else (include[h] if h is not None else None) for h, e in pairs]
    if default_rules is not None:
        rules = default_rules
    else:
        rules = [
            exclude_rules[e] if e is not None else (include_rules[h] if h is not None else NO_INCLUDE) for h, e in pairs
        ]
    targeted = [False] * n
    for i in resolution.targeted:
        targeted[i] = True
    containers = [bool(m._modules) for m in index.modules]
    acts: List[Optional[bool]] = [None] * n
    reasons: List[Optional[str]] = [None] * n
    if with_algorithm:
        acts = [False] * n
        reasons = ["container" if c else "not targeted" for c in containers]
        for i in split.acted:
            acts[i], reasons[i] = True, None
        for i, reason in split.skipped.items():
            reasons[i] = reason
    types = [type(m).__name__ for m in index.modules]
    return list(map(TargetRecord, index.paths, types, containers, targeted, rules, patterns, acts, reasons))
