"""The search loop: ask Optuna for a config, measure it, tell Optuna, until the study holds N trials.

``trials`` is the size of the study, not of one run: running the same search again resumes it
and runs only the trials still missing (none when it is complete), and several workers sharing
one storage together fill it up to N. A trial that fails (the smash or the measurement raises)
is recorded as failed with its reason and the search goes on. A config measured already in the
study is not measured again: its trial records the earlier metrics (``same_as``).
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional

from smashconfig.tuning.errors import ModelNotRestoredError

if TYPE_CHECKING:
    import optuna

    from smashconfig.config.smash_config import SmashConfig
    from smashconfig.tuning.objectives import Objective
    from smashconfig.tuning.search_space import SearchSpace

logger = logging.getLogger("smashconfig")

Evaluate = Callable[["SmashConfig"], Dict[str, float]]


def config_key(config: Dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def finished(study: "optuna.Study") -> List["optuna.trial.FrozenTrial"]:
    """The trials that count towards the study's size: complete, or failed other than by an interruption."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
    return [t for t in trials if not t.user_attrs.get("interrupted")]


def run_search(
    study: "optuna.Study",
    space: "SearchSpace",
    objectives: List["Objective"],
    evaluate: Evaluate,
    trials: int,
) -> int:
    """Run trials until ``study`` holds ``trials`` finished ones (at most ``trials`` here); returns how many ran."""
    ran = 0
    with _bar(max(trials - len(finished(study)), 0)) as bar:
        while ran < trials and len(finished(study)) < trials:
            _one_trial(study, space, objectives, evaluate, bar)
            ran += 1
    return ran


def _one_trial(study: "optuna.Study", space: "SearchSpace", objectives: List["Objective"], evaluate: Evaluate, bar: Any) -> None:
    from optuna.trial import TrialState

    trial = study.ask()
    try:
        config = space.sample(trial)
        trial.set_user_attr("config", config.to_dict())
        earlier = _measured(study, config_key(config.to_dict()))
        if earlier is not None:
            metrics = dict(earlier.user_attrs["metrics"])
            trial.set_user_attr("same_as", earlier.number)
        else:
            metrics = evaluate(config)
        trial.set_user_attr("metrics", metrics)
        study.tell(trial, [metrics[o.name] for o in objectives])
        summary = ", ".join(f"{o.name} {metrics[o.name]:.4g}" for o in objectives)
        logger.info("trial %d: %s%s", trial.number, summary, "" if earlier is None else f" (same config as trial {earlier.number})")
        if bar is not None:
            bar.set_postfix_str(summary)
    except KeyboardInterrupt:
        trial.set_user_attr("interrupted", True)
        study.tell(trial, state=TrialState.FAIL)
        raise
    except ModelNotRestoredError as error:
        _fail(study, trial, error)
        raise
    except Exception as error:
        _fail(study, trial, error)
    if bar is not None:
        bar.update(1)


def _fail(study: "optuna.Study", trial: "optuna.Trial", error: BaseException) -> None:
    from optuna.trial import TrialState

    reason = f"{type(error).__name__}: {error}"
    trial.set_user_attr("fail_reason", reason)
    study.tell(trial, state=TrialState.FAIL)
    logger.warning("trial %d failed: %s", trial.number, reason)


def _measured(study: "optuna.Study", key: str) -> Optional["optuna.trial.FrozenTrial"]:
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if "metrics" in trial.user_attrs and config_key(trial.user_attrs.get("config", {})) == key:
            return trial
    return None


@contextmanager
def _bar(total: int) -> Iterator[Any]:
    """A progress bar over trials on a terminal; ``None`` otherwise."""
    if not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="tune", unit="trial")
    try:
        yield bar
    finally:
        bar.close()
