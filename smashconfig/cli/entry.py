"""The ``smashconfig`` command: argument parsing only (``--help`` imports nothing heavy).

Each subcommand's work lives in :mod:`smashconfig.cli.commands`, imported when it runs. User
mistakes print one line (``file:line: reason`` for config files) and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from typing import List, Optional

CONFIG_HELP = "a YAML or JSON config file"
MODEL_HELP = (
    "a local Hugging Face model directory, or a built-in demo model: 'minilm' (the real "
    "all-MiniLM-L6-v2, the default) or 'tiny-llama' (a small LlamaForCausalLM built from a config)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smashconfig",
        description="Validate, explain and apply smashconfig compression configs.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    commands.add_parser("algorithms", help="list every algorithm, its group, hyperparameters, legal values, defaults")

    validate = commands.add_parser("validate", help="check a config file and print it in normal form")
    validate.add_argument("config", metavar="CONFIG", help=CONFIG_HELP)

    targets = _on_a_model(commands.add_parser("targets", help="show what each algorithm would act on, without applying"))
    targets.add_argument("--explain", action="store_true", help="show the rule that decided every module, folded")
    targets.add_argument("--json", action="store_true", help="print the plan (or, with --explain, the records) as JSON")
    targets.add_argument(
        "--against",
        metavar="PLAN",
        help="a plan.json or saved model directory: show what CONFIG on the model does differently "
        "(paths added or lost, algorithms or hyperparameters changed); exit 1 if anything differs",
    )

    smash = _on_a_model(commands.add_parser("smash", help="apply a config to a model, check its outputs, save it"))
    smash.add_argument("--output", metavar="DIR", help="save the smashed model (safetensors, config, plan) here")
    smash.add_argument("--overwrite", action="store_true", help="replace a save already in --output")
    return parser


def _on_a_model(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The arguments every command that works on a model takes."""
    command.add_argument("config", metavar="CONFIG", help=CONFIG_HELP)
    command.add_argument("--model", default="minilm", metavar="M", help=MODEL_HELP)
    command.add_argument("--strict", action="store_true", help="treat target-pattern warnings as errors")
    return command


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    from smashconfig.cli import commands
    from smashconfig.errors import SmashConfigError, TargetPatternWarning

    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            # target-pattern warnings are part of what `targets` and `smash` print
            warnings.filterwarnings("ignore", category=TargetPatternWarning)
            status = commands.run(args)
            sys.stdout.flush()  # a closed pipe shows here, inside the handlers below
            return status
    except BrokenPipeError:
        return _closed_pipe()
    except SmashConfigError as error:
        sys.stderr.write(f"smashconfig: error: {error}\n")
        return 2
    except (OSError, RecursionError, MemoryError) as error:  # files, disks, inputs too large to handle
        from smashconfig.errors import shorten

        sys.stderr.write(f"smashconfig: error: {shorten(_one_line(error), 500)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("smashconfig: interrupted\n")
        return 130


def _one_line(error: BaseException) -> str:
    text = str(error).replace("\n", " ") or type(error).__name__
    if isinstance(error, OSError) and error.filename is not None and str(error.filename) not in text:
        text = f"{error.filename}: {text}"
    return text


def _closed_pipe() -> int:
    """The reader of stdout went away (``| head -1``): stop quietly, as a shell tool does.

    stdout is pointed at /dev/null so that Python's own flush at exit does not fail again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader closed the pipe


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
    sys.stderr.write(f"smashconfig: warning: {message}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
