"""``tune``: search the configuration space for the configs on the size/quality Pareto front."""

from __future__ import annotations

import logging
import re
from typing import Any, Optional

from smashconfig.errors import IllegalValueError, PlanError, WrongTypeError, describe
from smashconfig.tuning.data import prepare_batches
from smashconfig.tuning.metrics import Reference, is_causal_lm, measure
from smashconfig.tuning.objectives import choose_objectives
from smashconfig.tuning.results import TuneResult
from smashconfig.tuning.runner import run_search
from smashconfig.tuning.search_file import SearchSource, load_search
from smashconfig.tuning.search_space import SearchSpace
from smashconfig.tuning.storage import open_storage, open_study, quiet_optuna, storage_url
from smashconfig.tuning.trial import evaluate

logger = logging.getLogger("smashconfig")


def tune(
    model: Any,
    search: SearchSource,
    *,
    trials: int = 12,
    data: Optional[Any] = None,
    tokenizer: Optional[Any] = None,
    storage: Optional[str] = None,
    study: Optional[str] = None,
    latency: bool = False,
    seed: Optional[int] = 0,
) -> TuneResult:
    """Search ``search`` on ``model`` and return the Pareto front of the study.

    ``search`` is a search file (path or YAML text), a mapping of the same form, or a
    :class:`~smashconfig.SmashConfig` (a search with one point). ``data`` is the batches to
    measure on (or texts, with ``tokenizer``); without it, built-in sample texts (with a
    tokenizer) or deterministic token ids are used. ``storage`` is an Optuna storage URL or an
    SQLite file path (default ``smashconfig-tune.db`` in the working directory); ``study`` its
    study name (default: the search's name and the model's class). ``trials`` is the size of the
    study: a second call with the same arguments resumes it and runs only the missing trials.

    Every input is checked before the first trial; every trial leaves ``model`` as it was.
    """
    check_trials(trials)
    space = load_search(search)
    if getattr(model, "smash_plan", None) is not None:
        raise PlanError("tune needs the unsmashed model; this one was smashed already (it has smash_plan).")
    causal = is_causal_lm(model)
    objectives = choose_objectives(space.objectives, causal=causal, latency=latency)
    check_targets(space, model)
    batches = prepare_batches(model, data, tokenizer)
    url = storage_url(storage)
    name = study or default_study_name(space, model)
    with quiet_optuna():
        opened = open_study(open_storage(url), name, objectives, space.fingerprint(), seed)
        reference = Reference.of(model, batches, causal)
        baseline = measure(model, reference, latency=latency)
        measure_one = lambda config: evaluate(model, config, reference, latency=latency)  # noqa: E731
        ran = run_search(opened, space, objectives, measure_one, trials)
        result = TuneResult.of(opened, url, objectives, baseline, ran)
    logger.debug("study %r: %d trials (%d run now), %d on the Pareto front", name, len(result.trials), ran, len(result.front))
    return result


def check_trials(trials: Any) -> int:
    if isinstance(trials, bool) or not isinstance(trials, int):
        raise WrongTypeError(f"trials takes a whole number of trials, 1 or more; got {describe(trials)}.", key="trials")
    if trials < 1:
        raise IllegalValueError(f"trials = {trials} runs nothing; give 1 or more.", key="trials")
    return trials


def check_targets(space: SearchSpace, model: Any) -> None:
    """Every ``target_modules`` the search may choose selects modules of ``model`` (checked now, not per trial)."""
    from smashconfig.target_modules import expand_list_of_targeted_paths
    from smashconfig.tuning.dimensions import Choice, Fixed

    for name, search in space.algorithms.items():
        dim = search.params.get("target_modules")
        values = dim.values if isinstance(dim, Choice) else (dim.value,) if isinstance(dim, Fixed) else ()
        for value in values:
            if value is not None:
                expand_list_of_targeted_paths(value, model)


def default_study_name(space: SearchSpace, model: Any) -> str:
    """``<search name>-<model class>``, e.g. ``search-minilm-BertModel``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{space.name}-{type(model).__name__}")
