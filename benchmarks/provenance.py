"""Which commit a benchmark measured, and whether the working tree was clean when it did.

A result is for the README only when it measured a clean tree: ``git status --porcelain`` lists
nothing but the benchmark's own outputs (``benchmarks/results/`` and the generated block of
README.md, which a run rewrites as it goes). ``run_all.py`` refuses to run on a modified tree
unless given ``--dirty``; it then sets ``SMASHBENCH_DIRTY=1`` for every benchmark, whose result
is marked ``"dirty": true`` and kept out of the README.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parent.parent
DIRTY_ENV = "SMASHBENCH_DIRTY"
#: Set by ``run_all.py`` to the commit it started on: a result written after HEAD moved is refused.
COMMIT_ENV = "SMASHBENCH_COMMIT"
#: Paths a benchmark run writes itself; their changes do not make the measured code dirty.
OUTPUTS = ("benchmarks/results", "README.md")


class DirtyTreeError(RuntimeError):
    """The working tree has changes, and ``--dirty`` was not given."""


def _git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=str(REPO), capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise DirtyTreeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def changes() -> List[str]:
    """``git status --porcelain`` lines, the benchmark's own outputs left out."""
    excluded = [f":(exclude){path}" for path in OUTPUTS]
    return [line for line in _git("status", "--porcelain", "--", ".", *excluded).splitlines() if line.strip()]


def git_state() -> Dict[str, Any]:
    """``{"commit": full hash, "short": short hash, "dirty": bool, "changes": [...]}``."""
    found = changes()
    return {
        "commit": _git("rev-parse", "HEAD").strip(),
        "short": _git("rev-parse", "--short", "HEAD").strip(),
        "dirty": bool(found),
        "changes": found[:20],
    }


def dirty_allowed() -> bool:
    return os.environ.get(DIRTY_ENV) == "1"


def checked_state() -> Dict[str, Any]:
    """:func:`git_state`, or :class:`DirtyTreeError` when the tree is modified and ``--dirty`` was not given."""
    state = git_state()
    started = os.environ.get(COMMIT_ENV)
    if started and started != state["commit"]:
        raise DirtyTreeError(f"HEAD moved from {started[:10]} to {state['short']} during the run; rerun the benchmarks")
    if state["dirty"] and not dirty_allowed():
        listed = "\n  ".join(state["changes"])
        raise DirtyTreeError(
            f"the working tree has changes, so a result would not describe commit {state['short']}:\n  {listed}\n"
            "commit or stash them, or pass --dirty to run_all.py (results are then marked dirty and kept out of "
            "the README)."
        )
    return state
