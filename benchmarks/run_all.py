"""Run every ``benchmarks/bench_*.py`` (each in its own fresh interpreter) and write ``results/RESULTS.md``.

    .venv/bin/python benchmarks/run_all.py            # all benchmarks (``make bench``)
    .venv/bin/python benchmarks/run_all.py targets    # only bench_targets.py
    .venv/bin/python benchmarks/run_all.py --strict   # exit 1 when a goal is not met
    .venv/bin/python benchmarks/run_all.py --dirty    # measure a modified tree (results kept out of the README)

It refuses to start when ``git status --porcelain`` shows changes (see ``provenance.py``) unless
given ``--dirty``. After a clean run of every benchmark, it rewrites the README's results block
(``readme_table.py``).

A benchmark that is not run this time keeps its last ``results/<name>.json`` in RESULTS.md. The
contract each ``bench_*.py`` follows is in the docstring of ``common.py``. Exit status: 1 when a
benchmark failed (crashed, timed out, wrote no result), or with ``--strict`` when a goal is not
met; 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import common
import provenance
import readme_table


def discover() -> List[Path]:
    return sorted(common.BENCH_DIR.glob("bench_*.py"))


def run_one(script: Path, timeout: float, env: Dict[str, str], extra: Sequence[str] = ()) -> Dict[str, Any]:
    """Run ``script``; return ``{"name", "ok", "seconds", "error", "result"}``."""
    name = common.bench_name(str(script))
    path = common.result_path(name)
    if path.exists():
        path.unlink()  # never report a stale result as this run's
    print(f"=== {script.name} ===", flush=True)
    t0 = time.perf_counter()
    error: Optional[str] = None
    try:
        proc = subprocess.run([sys.executable, str(script), *extra], cwd=str(common.REPO), timeout=timeout, env=env)
        if proc.returncode != 0:
            error = f"exited with status {proc.returncode} (its output is above in the log)"
    except subprocess.TimeoutExpired:
        error = f"timed out after {timeout:g} s"
    seconds = time.perf_counter() - t0
    result = None
    if error is None:
        try:
            result = json.loads(path.read_text())
            missing = {"title", "columns", "rows", "goals"} - set(result)
            if missing:
                error = f"{path.name} lacks {sorted(missing)}"
        except (OSError, ValueError) as exc:
            error = f"wrote no readable {path.name}: {exc}"
    print(f"=== {script.name}: {'ok' if error is None else 'FAILED: ' + error} ({seconds:.1f} s)\n", flush=True)
    return {"name": name, "script": script.name, "ok": error is None, "seconds": seconds, "error": error, "result": result}


def previous(script: Path) -> Dict[str, Any]:
    """The last stored result of a benchmark not run this time."""
    name = common.bench_name(str(script))
    try:
        result = json.loads(common.result_path(name).read_text())
    except (OSError, ValueError):
        result = None
    return {"name": name, "script": script.name, "ok": result is not None, "seconds": None,
            "error": None if result else "not run, and no earlier result", "result": result, "stale": True}


def render(outcomes: Sequence[Dict[str, Any]]) -> str:
    machine = common.machine_info()
    state = provenance.git_state()
    lines = [
        "# smashconfig benchmarks",
        "",
        "Written by `benchmarks/run_all.py` (`make bench`); each `benchmarks/bench_*.py` ran in its own "
        "fresh interpreter and wrote `benchmarks/results/<name>.json`.",
        "",
        f"Machine: Python {machine['python']}, torch {machine['torch']}, {machine['cpu_count']} CPUs "
        f"({machine['cpu'] or 'unknown CPU'}), {machine['platform']}; {machine['date']}"
        + f", commit {state['short']}" + (" with uncommitted changes (not for the README)" if state["dirty"] else "")
        + ".",
        "",
        "## Goals",
        "",
    ]
    summary = []
    for o in outcomes:
        if not o["ok"]:
            summary.append({"benchmark": o["script"], "goal": "(benchmark ran)", "measured": o["error"], "status": "FAILED"})
            continue
        for g in o["result"].get("goals", []):
            summary.append({"benchmark": o["script"] + (" (earlier run)" if o.get("stale") else ""), "goal": g["goal"],
                            "measured": g.get("measured", ""), "status": common.status(g.get("met"))})
    lines.append(common.markdown_table(["benchmark", "goal", "measured", "status"], summary))
    for o in outcomes:
        lines.append("")
        if o["ok"]:
            lines.append(common.render_markdown(o["result"]).rstrip())
        else:
            lines.append(f"## {o['script']}: FAILED\n\n{o['error']}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (e.g. 'targets'); default: all")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is not met")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per benchmark (default 1800)")
    parser.add_argument("--dirty", action="store_true", help="measure a modified tree; results are marked dirty")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    env.pop(provenance.DIRTY_ENV, None)
    if args.dirty:
        env[provenance.DIRTY_ENV] = "1"
    try:
        env[provenance.COMMIT_ENV] = (provenance.git_state() if args.dirty else provenance.checked_state())["commit"]
    except provenance.DirtyTreeError as error:
        print(f"run_all.py: {error}", file=sys.stderr)
        return 2

    scripts = discover()
    known = {common.bench_name(str(s)) for s in scripts}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)}; known: {', '.join(sorted(known))}")

    outcomes = []
    for script in scripts:
        if args.names and common.bench_name(str(script)) not in args.names:
            outcomes.append(previous(script))
        else:
            outcomes.append(run_one(script, args.timeout, env))

    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = common.RESULTS_DIR / "RESULTS.md"
    out.write_text(render(outcomes))

    failed = [o["script"] for o in outcomes if not o["ok"]]
    unmet = [
        f"{o['script']}: {g['goal']} (measured {g.get('measured', '?')})"
        for o in outcomes if o["ok"] for g in o["result"].get("goals", []) if not g.get("met")
    ]
    print(f"wrote {out.relative_to(common.REPO)}")
    if failed or args.dirty:
        print("README.md not updated: " + ("a benchmark failed" if failed else "--dirty results are not for the README"))
    else:
        readme_table.main()
    for line in failed:
        print(f"FAILED: {line}")
    for line in unmet:
        print(f"goal missed: {line}")
    if not failed and not unmet:
        print("every goal met")
    return 1 if failed or (args.strict and unmet) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
