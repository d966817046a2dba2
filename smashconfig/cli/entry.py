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
from typing import Callable, List, Optional

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
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details (before or after COMMAND)")
    # a subcommand's -v must not reset one given before it: its default is left unset
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debug details")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, parents=[verbose])

    command("algorithms", "list every algorithm, its group, hyperparameters, legal values, defaults")

    validate = command("validate", "check config files and print each in normal form")
    validate.add_argument("config", metavar="CONFIG", nargs="+", help="YAML or JSON config files")

    targets = _on_a_model(command("targets", "show what each algorithm would act on, without applying"))
    targets.add_argument("--explain", action="store_true", help="show the rule that decided every module, folded")
    targets.add_argument("--json", action="store_true", help="print the plan (or, with --explain, the records) as JSON")
    targets.add_argument(
        "--against",
        metavar="PLAN",
        help="a plan.json or saved model directory: show what CONFIG on the model does differently "
        "(paths added or lost, algorithms or hyperparameters changed); exit 1 if anything differs",
    )

    smash = _on_a_model(command("smash", "apply a config to a model, check its outputs, save it"))
    smash.add_argument("--output", metavar="DIR", help="save the smashed model (safetensors, config, plan) here")
    smash.add_argument("--overwrite", action="store_true", help="replace a save already in --output")

    tune = commands.add_parser("tune", help="search for the configs on the size/quality Pareto front of a model")
    tune.add_argument(
        "search", metavar="SEARCH", help="a search file: a config whose lists mean 'choose among' and {low: L, high: H} 'search within'"
    )
    tune.add_argument("--model", default="minilm", metavar="M", help=MODEL_HELP)
    tune.add_argument("--data", metavar="FILE", help="a UTF-8 text file, one sample per line, tokenized by the model's tokenizer")
    tune.add_argument("--trials", type=int, default=12, metavar="N", help="trials the study holds when done (default 12); "
                      "running again resumes the study and runs only the missing ones")
    tune.add_argument("--storage", metavar="URL", help="an Optuna storage URL or an SQLite file (default smashconfig-tune.db)")
    tune.add_argument("--study", metavar="NAME", help="the study's name (default: the search file's name and the model's class)")
    tune.add_argument("--latency", action="store_true", help="measure the median forward time as a third objective")
    tune.add_argument("--seed", type=int, default=0, help="the sampler's seed (default 0)")
    tune.add_argument("--output", metavar="DIR", help="where to write the front's configs, trials.json and front.png "
                      "(default tune-results/<study>)")
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
    restore = _log_to_stderr(args.verbose)
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
    finally:
        restore()


def _log_to_stderr(verbose: bool) -> Callable[[], None]:
    """Send the ``smashconfig`` logger's records to stderr (DEBUG with ``-v``); returns the undo.

    Only this library's logger is configured: the root logger, and every other library's, stay as
    the caller set them.
    """
    logger = logging.getLogger("smashconfig")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s" if not verbose else "%(levelname)s %(name)s: %(message)s"))
    before = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(before[0])
        logger.propagate = before[1]

    return restore


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
