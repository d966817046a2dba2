"""What each ``smashconfig`` subcommand does; output goes to stdout, diagnostics to the log."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List

from smashconfig.cli.output import out
from smashconfig.text import table

if TYPE_CHECKING:
    from smashconfig.config.smash_config import SmashConfig


def run(args: argparse.Namespace) -> int:
    """Dispatch ``args.command``; returns the exit status."""
    handlers: Dict[str, Callable[[argparse.Namespace], int]] = {
        "algorithms": algorithms,
        "validate": validate,
        "targets": targets,
        "smash": smash,
    }
    return handlers[args.command](args)


def load(path: str) -> "SmashConfig":
    """A config from a ``.json`` file, or YAML otherwise."""
    from smashconfig.config.smash_config import SmashConfig

    source = Path(path)
    return SmashConfig.from_json(source) if source.suffix == ".json" else SmashConfig.from_yaml(source)


def algorithms(args: argparse.Namespace) -> int:
    from smashconfig.contract.hyperparameters import allowed, default_of
    from smashconfig.contract.registry import default_registry

    registry = default_registry()
    keys = registry.keys()
    for name, algorithm in registry.algorithms().items():
        missing = algorithm.missing_packages()
        state = f"needs: {algorithm.install_hint()}" if missing else "installed"
        out(f"{name}  (group: {algorithm.group}; backend: {', '.join(algorithm.requires) or 'none'}; {state})")
        if algorithm.description:
            out(f"  {algorithm.description}")
        rows: List[List[str]] = []
        for hp_name in registry.key_names(name):
            hp = keys[f"{name}_{hp_name}"].hyperparameter
            rows.append([f"{name}_{hp_name}", f"default {default_of(hp)!r}", allowed(hp)])
        for line in table(rows):
            out("  " + line)
        out()
    return 0


def validate(args: argparse.Namespace) -> int:
    config = load(args.config)
    out(f"# {args.config}: valid; active algorithms: {', '.join(config.active_algorithms) or 'none'}")
    sys.stdout.write(config.to_yaml())
    return 0


def targets(args: argparse.Namespace) -> int:
    from smashconfig.cli.targets_command import show_targets

    return show_targets(args, load(args.config))


def smash(args: argparse.Namespace) -> int:
    from smashconfig.cli.smash_command import run_smash

    return run_smash(args, load(args.config))
