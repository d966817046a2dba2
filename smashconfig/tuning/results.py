"""What a search found: every trial, the Pareto front, as a table, JSON, and configs ``smash`` takes."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union

from smashconfig.text import table
from smashconfig.tuning.errors import OutputDirectoryError
from smashconfig.tuning.objectives import Objective
from smashconfig.tuning.plot import plot_front
from smashconfig.tuning.records import TrialRecord
from smashconfig.tuning.runner import config_key

if TYPE_CHECKING:
    import optuna

METRIC_ORDER = ("size", "cosine", "kl", "perplexity", "latency")


@dataclass
class TuneResult:
    """The study's trials and its Pareto front: the non-dominated trials, one per distinct config,
    leaving out the config without any algorithm (the unsmashed model, reported as ``baseline``)."""

    study: str
    storage: str
    objectives: List[Objective]
    baseline: Dict[str, float]
    trials: List[TrialRecord]
    front: List[TrialRecord]
    ran: int = 0
    """How many trials this call ran (the rest were in the study already)."""

    @classmethod
    def of(cls, study: "optuna.Study", storage: str, objectives: List[Objective], baseline: Dict[str, float], ran: int) -> "TuneResult":
        records = [_record(t) for t in study.get_trials(deepcopy=False)]
        by_number = {r.number: r for r in records}
        front: Dict[str, TrialRecord] = {}
        for trial in sorted(study.best_trials, key=lambda t: t.number):
            record = by_number[trial.number]
            if record.config:  # "no algorithm" is the unsmashed model, shown as the table's first row
                front.setdefault(config_key(record.config), record)
        ordered = sorted(front.values(), key=lambda r: (r.metrics[objectives[0].name], r.number))
        return cls(study.study_name, storage, objectives, baseline, records, ordered, ran)

    def table(self) -> str:
        """The front as a table: the unsmashed model first, then each point's metrics and config."""
        names = [m for m in METRIC_ORDER if m in self.baseline]
        header = ["trial"] + [_heading(n, self.objectives) for n in names] + ["config"]
        rows = [header, ["unsmashed"] + [_number(self.baseline[n]) for n in names] + ["-"]]
        for point in self.front:
            rows.append([str(point.number)] + [_number(point.metrics.get(n)) for n in names] + [summary(point.config)])
        return "\n".join(table(rows))

    def to_dict(self) -> Dict[str, Any]:
        return {
            "study": self.study,
            "storage": self.storage,
            "objectives": [o.name for o in self.objectives],
            "directions": [o.direction for o in self.objectives],
            "baseline": self.baseline,
            "front": [p.number for p in self.front],
            "trials": [asdict(t) for t in self.trials],
        }

    def write(self, directory: Union[str, Path], *, plot: bool = True) -> Dict[str, Path]:
        """Write ``front.txt``, ``trials.json``, one ``trial-N.yaml`` per front point and ``front.png``."""
        folder = writable_folder(directory)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return self._write(folder, plot)
        except OSError as error:
            raise OutputDirectoryError(f"cannot write the results to {str(folder)!r}: {error.strerror or error}.") from None

    def _write(self, folder: Path, plot: bool) -> Dict[str, Path]:
        for stale in folder.glob("trial-*.yaml"):
            stale.unlink()
        written: Dict[str, Path] = {}
        for point in self.front:
            path = folder / f"trial-{point.number}.yaml"
            point.smash_config.to_yaml(path)
            written[f"trial-{point.number}"] = path
        written["table"] = folder / "front.txt"
        written["table"].write_text(self.table() + "\n", encoding="utf-8")
        written["trials"] = folder / "trials.json"
        written["trials"].write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
        if plot:
            written["plot"] = plot_front(self.trials, self.front, self.objectives, self.baseline, self.study, folder / "front.png")
        return written


def writable_folder(directory: Union[str, Path]) -> Path:
    """``directory`` once it is known that it can be made (if missing) and written; nothing is created."""
    folder = Path(directory)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    problem = None
    if not existing.is_dir():
        problem = f"{str(existing)!r} is not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{str(existing)!r} is not writable"
    if problem:
        raise OutputDirectoryError(f"cannot write the results to {str(folder)!r}: {problem}.")
    return folder


def summary(config: Dict[str, Any]) -> str:
    """A config on one line: ``quanto(weight_bits=qint8, targets=encoder.*) + lora(r=8)``."""
    parts = []
    for name, params in config.items():
        items = [f"{k}={v}" for k, v in params.items() if k not in ("target_modules", "overrides")]
        targets = params.get("target_modules")
        if targets:
            text = ",".join(targets.get("include", ["*"]))
            if targets.get("exclude"):
                text += " -" + ",".join(targets["exclude"])
            items.append(f"targets={text}")
        if params.get("overrides"):
            items.append("overrides=" + "; ".join(_rule(r) for r in params["overrides"]))
        parts.append(f"{name}({', '.join(items)})")
    return " + ".join(parts) or "(nothing)"


def _rule(rule: Dict[str, Any]) -> str:
    values = ",".join(f"{k}={v}" for k, v in rule.items() if k not in ("include", "exclude"))
    return f"{','.join(rule.get('include', ['*']))}:{values}"


def _heading(name: str, objectives: List[Objective]) -> str:
    unit = {"size": "size MiB", "latency": "latency ms"}.get(name, name)
    chosen = {o.name: o for o in objectives}
    if name not in chosen:
        return unit
    return unit + (" (min)" if chosen[name].direction == "minimize" else " (max)")


def _number(value: Optional[float]) -> str:
    if value is None:
        return "-"
    if value == 0 or 0.01 <= abs(value) < 100000:
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return f"{value:.3e}"


def _record(trial: "optuna.trial.FrozenTrial") -> TrialRecord:
    attrs = trial.user_attrs
    return TrialRecord(
        trial.number,
        trial.state.name.lower(),
        dict(attrs.get("metrics", {})),
        dict(attrs.get("config", {})),
        attrs.get("fail_reason"),
        attrs.get("same_as"),
    )

