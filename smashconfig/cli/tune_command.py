"""``smashconfig tune``: search a model's Pareto front of size against quality, and write what it found."""

from __future__ import annotations

import argparse
from pathlib import Path

from smashconfig.cli.output import out
from smashconfig.errors import IllegalValueError

DEFAULT_OUTPUT = "tune-results"


def run_tune(args: argparse.Namespace) -> int:
    from smashconfig.cli.models import load_model
    from smashconfig.tuning.api import check_trials, default_study_name, tune
    from smashconfig.tuning.data import read_texts, tokenized
    from smashconfig.tuning.results import writable_folder
    from smashconfig.tuning.search_file import load_search

    check_trials(args.trials)
    space = load_search(Path(args.search))  # a bad search file fails before the model is loaded
    texts = read_texts(args.data) if args.data else None
    demo = load_model(args.model)
    if texts is not None and demo.tokenizer is None:
        raise IllegalValueError(f"--data needs the model's tokenizer, and --model {args.model!r} has none.", key="data")
    data = tokenized(texts, demo.tokenizer) if texts is not None else [demo.inputs]
    study = args.study or default_study_name(space, demo.model)
    folder = writable_folder(Path(args.output) if args.output else Path(DEFAULT_OUTPUT) / study)
    result = tune(
        demo.model, space, trials=args.trials, data=data, storage=args.storage, study=study,
        latency=args.latency, seed=args.seed,
    )
    failed = sum(1 for t in result.trials if t.state == "fail")
    out(f"study {result.study!r} in {result.storage}: {len(result.trials)} trials ({result.ran} run now, {failed} failed)")
    out(f"model: {demo.name}; objectives: {', '.join(f'{o.name} ({o.direction})' for o in result.objectives)}")
    out()
    out(result.table())
    out()
    written = result.write(folder)
    out(f"wrote {len(result.front)} front configs (smashconfig smash {folder}/trial-N.yaml), "
        f"{written['trials'].name}, {written['plot'].name} and {written['table'].name} to {folder}")
    return 0
