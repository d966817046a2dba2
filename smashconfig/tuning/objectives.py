"""What a search optimises: each objective's name, direction, unit, and which models it applies to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

from smashconfig.errors import IllegalValueError, WrongTypeError, describe
from smashconfig.text.didyoumean import did_you_mean


@dataclass(frozen=True)
class Objective:
    """One measured quantity of a smashed model, and whether smaller or larger is better."""

    name: str
    direction: str
    """``"minimize"`` or ``"maximize"`` (Optuna's words)."""
    label: str
    causal_only: bool = False

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b``."""
        return a < b if self.direction == "minimize" else a > b


OBJECTIVES = {
    "size": Objective("size", "minimize", "weights (MiB)"),
    "cosine": Objective("cosine", "maximize", "cosine similarity of outputs (mean)"),
    "kl": Objective("kl", "minimize", "KL divergence of next-token distributions", causal_only=True),
    "perplexity": Objective("perplexity", "minimize", "perplexity on the data", causal_only=True),
    "latency": Objective("latency", "minimize", "median forward time per batch (ms)"),
}


def check_objective_names(value: Any) -> List[str]:
    """The objective names in ``value`` (a list of names), each known and given once."""
    if not isinstance(value, list) or not value:
        raise WrongTypeError(f"objectives takes a list of names from {list(OBJECTIVES)}; got {describe(value)}.", key="objectives")
    for name in value:
        if name not in OBJECTIVES:
            hint = did_you_mean(name, OBJECTIVES) if isinstance(name, str) else ""
            raise IllegalValueError(f"unknown objective {name!r}; the objectives are {', '.join(OBJECTIVES)}.{hint}", key="objectives")
    if len(set(value)) != len(value):
        raise IllegalValueError(f"objectives {value} names one objective twice.", key="objectives")
    return list(value)


def choose_objectives(names: Optional[Sequence[str]], *, causal: bool, latency: bool) -> List[Objective]:
    """The objectives of a search: those named (default: size and cosine for encoders, size and kl
    for causal LMs), plus latency when asked; an objective the model cannot have is an error."""
    chosen = check_objective_names(list(names)) if names else ["size", "kl" if causal else "cosine"]
    if latency and "latency" not in chosen:
        chosen.append("latency")
    for name in chosen:
        if OBJECTIVES[name].causal_only and not causal:
            raise IllegalValueError(
                f"objective {name!r} needs a causal language model (next-token logits); this model is not one. "
                "Use 'cosine' for encoders.",
                key="objectives",
            )
    if len(chosen) < 2:
        raise IllegalValueError(f"objectives {chosen}: a search trades at least two objectives (such as size and cosine).", key="objectives")
    return [OBJECTIVES[name] for name in chosen]
