"""Shared helpers for the smashconfig benchmarks (``benchmarks/bench_*.py``, driven by ``run_all.py``).

The contract of a benchmark script
----------------------------------
A benchmark is a file ``benchmarks/bench_<name>.py``. ``run_all.py`` finds every such file and runs
each one as its own subprocess (``python benchmarks/bench_<name>.py``, from the repository root), so
every benchmark starts in a fresh interpreter. When run as a script, a benchmark:

1. measures. Every figure is taken in a fresh process, never in the driver that imports this
   module: use :func:`run_function` (call a module-level function of the bench file in a new
   interpreter and get its JSON-serialisable return value back), :func:`run_python` (the same for a
   code snippet that calls ``emit(value)``) or :func:`time_command` (wall time of a whole command,
   best of several runs). Inside a worker, :func:`best_of` / :func:`best_of_interleaved` time
   callables. Comparisons measured side by side run in the same worker, interleaved.
2. calls :func:`write_result` exactly once, which writes ``benchmarks/results/<name>.json``::

       {
         "name": "targets",                        # the file stem without "bench_"
         "title": "target_modules resolution ...", # the heading in RESULTS.md
         "description": "...",                     # optional markdown paragraph
         "columns": ["measurement", "best (s)", ...],
         "rows": [{"measurement": "...", "best (s)": 0.123, ...}, ...],
         "goals": [{"goal": "...", "measured": "...", "met": true}, ...],
         "notes": ["..."],                         # optional bullet points
         "data": {...},                            # optional raw figures (all runs, breakdowns)
         "machine": {...},                         # added by write_result
         "commit": "<full hash>", "dirty": false,  # added by write_result (see provenance.py)
         "created": "2026-...", "elapsed_s": 12.3  # added by write_result
       }

   Row values are strings, numbers or ``None`` (rendered as an empty cell). :func:`fmt_s` and
   :func:`fmt_x` format seconds and ratios the same way everywhere.
3. exits with status 0 when it measured, even when a goal is not met (``run_all.py --strict``
   turns unmet goals into a failure), and non-zero when it could not measure: a crash, or a
   correctness assertion such as "ours and the baseline returned different paths".

``run_all.py`` renders each JSON with :func:`render_markdown` (one table of figures and ratios, one
table of goals with ``met`` / ``missed``) into ``benchmarks/results/RESULTS.md``, and
``readme_table.py`` writes the goals into README.md between its marker comments. Adding a
benchmark is adding one ``bench_<name>.py`` that follows this contract; nothing else changes.
"""

from __future__ import annotations

import datetime as _dt
import gc
import importlib.metadata
import inspect
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

import provenance

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
RESULT_ENV = "SMASHBENCH_RESULT"

#: Modules that ``import smashconfig`` and ``smashconfig --help`` must not import: they cost seconds.
HEAVY_MODULES = ("torch", "ConfigSpace", "optimum.quanto", "peft", "transformers")


class BenchmarkError(RuntimeError):
    """A worker process failed, or a benchmark could not measure what it measures."""


# --------------------------------------------------------------------------- fresh processes

def byte_compile_project() -> None:
    """Write the ``.pyc`` files of ``smashconfig/`` and ``algorithms/``, as a regular ``pip install`` does.

    An editable install never byte-compiles, and with ``PYTHONDONTWRITEBYTECODE`` set no import
    writes them either; every fresh worker would then compile the sources it imports, a cost no
    installed user pays.
    """
    import compileall

    for package in ("smashconfig", "algorithms"):
        compileall.compile_dir(str(REPO / package), quiet=1)



_PRELUDE = """\
import json as _smashbench_json, os as _smashbench_os
def emit(value):
    with open(_smashbench_os.environ[{env!r}], "w") as _f:
        _smashbench_json.dump(value, _f)
""".format(env=RESULT_ENV)


def run_python(
    code: str,
    *,
    timeout: float = 600,
    cwd: Optional[Path] = None,
    env: Optional[Mapping[str, str]] = None,
    python: Optional[str] = None,
) -> Any:
    """Run ``code`` in a fresh interpreter; it calls ``emit(value)`` once; return that value.

    ``emit`` is defined by a two-line prelude (it imports only ``json`` and ``os``). The process
    inherits this one's environment, plus ``env``; it runs in ``cwd`` (default: the repository
    root). A non-zero exit, or no ``emit``, raises :class:`BenchmarkError` with the stderr tail.
    """
    fd, out = tempfile.mkstemp(prefix="smashbench-", suffix=".json")
    os.close(fd)
    os.unlink(out)
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env[RESULT_ENV] = out
    try:
        proc = subprocess.run(
            [python or sys.executable, "-c", _PRELUDE + code],
            cwd=str(cwd or REPO),
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise BenchmarkError(
                f"worker exited with status {proc.returncode}:\n{_tail(proc.stderr or proc.stdout)}"
            )
        if not os.path.exists(out):
            raise BenchmarkError(f"worker exited without emit():\n{_tail(proc.stderr or proc.stdout)}")
        with open(out) as f:
            return json.load(f)
    finally:
        if os.path.exists(out):
            os.unlink(out)


def run_function(func: Callable[..., Any], *args: Any, timeout: float = 600, **kwargs: Any) -> Any:
    """Call ``func(*args, **kwargs)`` in a fresh interpreter and return its (JSON) return value.

    ``func`` must be a module-level function of a file in ``benchmarks/``; the file is imported by
    path under a private name, so its ``if __name__ == "__main__":`` block does not run. Arguments
    and the return value travel as JSON.
    """
    source = Path(inspect.getfile(func)).resolve()
    call = json.dumps({"args": list(args), "kwargs": kwargs})
    code = f"""
import importlib.util, json, sys
sys.path.insert(0, {str(source.parent)!r})
_spec = importlib.util.spec_from_file_location("_smashbench_worker_{source.stem}", {str(source)!r})
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
_call = json.loads({call!r})
emit(getattr(_mod, {func.__name__!r})(*_call["args"], **_call["kwargs"]))
"""
    return run_python(code, timeout=timeout)


def time_command(
    argv: Sequence[str],
    *,
    runs: int = 7,
    warmup: int = 1,
    cwd: Optional[Path] = None,
    env: Optional[Mapping[str, str]] = None,
    timeout: float = 120,
) -> Dict[str, Any]:
    """Wall time of ``argv`` as a whole (a fresh process each run), as :func:`stats` of the timed runs.

    ``warmup`` runs come first and are not counted (they write ``.pyc`` files and warm the OS file
    cache). Every run must exit 0; the last run's stdout is returned as ``"stdout"``.
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    times: List[float] = []
    stdout = ""
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        proc = subprocess.run(
            list(argv), cwd=str(cwd or REPO), env=full_env, capture_output=True, text=True, timeout=timeout
        )
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise BenchmarkError(f"{' '.join(argv)} exited with status {proc.returncode}:\n{_tail(proc.stderr)}")
        if i >= warmup:
            times.append(elapsed)
        stdout = proc.stdout
    result = stats(times)
    result["stdout"] = stdout
    return result


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join((text or "").rstrip().splitlines()[-lines:])


# --------------------------------------------------------------------------- timing in a worker


def profile(fn: Callable[[], Any], top: int = 25) -> Dict[str, str]:
    """cProfile of one call of ``fn``: the ``top`` functions by ``tottime`` and by ``cumulative`` time."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(fn)
    out = {}
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).strip_dirs().sort_stats(key).print_stats(top)
        out[key] = buf.getvalue()
    return out


def print_profile(label: str, profiled: Mapping[str, str]) -> None:
    """Print a :func:`profile` result, blank lines dropped."""
    for key, heading in (("tottime", f"cProfile of {label} (sorted by tottime):"), ("cumulative", "... sorted by cumulative time:")):
        print(heading)
        print("\n".join(line for line in profiled[key].splitlines() if line.strip()))


def stats(times: Iterable[float]) -> Dict[str, Any]:
    """``{"best", "median", "worst", "runs"}`` of a list of durations in seconds."""
    runs = list(times)
    return {"best": min(runs), "median": statistics.median(runs), "worst": max(runs), "runs": runs}


def _timed(fn: Callable[[], Any], collect: bool) -> "tuple[float, Any]":
    if collect:
        gc.collect()
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def best_of(fn: Callable[[], Any], n: int = 5, *, collect: bool = True) -> Dict[str, Any]:
    """Time ``fn()`` ``n`` times; :func:`stats` plus ``"value"``, the last return value.

    The garbage collector stays enabled (it is part of real cost) but runs a full collection before
    each call, so that one call does not pay for garbage left by the previous one.
    """
    times, value = [], None
    for _ in range(n):
        elapsed, value = _timed(fn, collect)
        times.append(elapsed)
    result = stats(times)
    result["value"] = value
    return result


def best_of_interleaved(
    fns: Mapping[str, Callable[[], Any]], n: int = 5, *, collect: bool = True
) -> Dict[str, Dict[str, Any]]:
    """Like :func:`best_of` for several callables, run round-robin so that drift and noise on a
    busy machine affect all of them alike. Returns ``{name: stats + "value"}``."""
    times: Dict[str, List[float]] = {name: [] for name in fns}
    values: Dict[str, Any] = {}
    for _ in range(n):
        for name, fn in fns.items():
            elapsed, values[name] = _timed(fn, collect)
            times[name].append(elapsed)
    out = {}
    for name in fns:
        out[name] = stats(times[name])
        out[name]["value"] = values[name]
    return out


# --------------------------------------------------------------------------- results


def _version(dist: str) -> Optional[str]:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> Optional[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine_info() -> Dict[str, Any]:
    """Python, package versions (read from metadata, nothing heavy imported), CPUs, date, commit."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "torch": _version("torch"),
        "smashconfig": _version("smashconfig"),
        "ConfigSpace": _version("ConfigSpace"),
        "transformers": _version("transformers"),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def goal(text: str, measured: str, met: bool) -> Dict[str, Any]:
    """One entry of a result's ``goals``."""
    return {"goal": text, "measured": measured, "met": bool(met)}


def status(met: Optional[bool]) -> str:
    return "" if met is None else ("met" if met else "missed")


def fmt_s(seconds: Optional[float]) -> str:
    """Seconds with three significant decimals: ``0.271 s``, ``12.3 ms`` below 0.1 s."""
    if seconds is None:
        return ""
    if seconds < 0.1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.3f} s"


def fmt_x(ratio: Optional[float]) -> str:
    """A ratio as ``3.21x``."""
    return "" if ratio is None else f"{ratio:.2f}x"


def bench_name(script: str) -> str:
    """``benchmarks/bench_targets.py`` → ``targets``."""
    stem = Path(script).stem
    return stem[len("bench_"):] if stem.startswith("bench_") else stem


def result_path(name: str) -> Path:
    return RESULTS_DIR / f"{name}.json"


def write_result(
    script: str,
    *,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    goals: Sequence[Mapping[str, Any]] = (),
    description: str = "",
    notes: Sequence[str] = (),
    data: Optional[Mapping[str, Any]] = None,
    started: Optional[float] = None,
) -> Path:
    """Write ``benchmarks/results/<name>.json`` for the bench file ``script`` (pass ``__file__``).

    Refuses (:class:`provenance.DirtyTreeError`) when the working tree is modified, unless the run
    was started with ``--dirty``; the result records the commit and whether the tree was dirty.
    """
    name = bench_name(script)
    git = provenance.checked_state()
    for row in rows:
        unknown = set(row) - set(columns)
        if unknown:
            raise BenchmarkError(f"{name}: row has keys not in columns: {sorted(unknown)}")
    result = {
        "name": name,
        "title": title,
        "description": description,
        "columns": list(columns),
        "rows": [dict(row) for row in rows],
        "goals": [dict(g) for g in goals],
        "notes": list(notes),
        "data": dict(data or {}),
        "machine": machine_info(),
        "commit": git["commit"],
        "dirty": git["dirty"],
        "changes": git["changes"],
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "elapsed_s": None if started is None else round(time.perf_counter() - started, 2),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = result_path(name)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def load_result(name: str) -> Dict[str, Any]:
    return json.loads(result_path(name).read_text())


def print_result(script: str) -> None:
    """Print, as markdown, the result the bench file ``script`` (pass ``__file__``) wrote."""
    print(render_markdown(load_result(bench_name(script))))


# --------------------------------------------------------------------------- markdown


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    """A GitHub-flavoured markdown table; numbers right-aligned."""
    def numeric(col: str) -> bool:
        values = [r.get(col) for r in rows if r.get(col) is not None]
        return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)

    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |"]
    lines.append("|" + "|".join("---:" if numeric(c) else "---" for c in columns) + "|")
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def goals_table(goals: Sequence[Mapping[str, Any]]) -> str:
    rows = [{"goal": g["goal"], "measured": g.get("measured", ""), "status": status(g.get("met"))} for g in goals]
    return markdown_table(["goal", "measured", "status"], rows)


def render_markdown(result: Mapping[str, Any], level: int = 2) -> str:
    """One benchmark's section: title, description, figures table, goals table, notes."""
    parts = [f"{'#' * level} {result['title']}"]
    if result.get("description"):
        parts.append(result["description"])
    parts.append(markdown_table(result["columns"], result["rows"]))
    if result.get("goals"):
        parts.append(goals_table(result["goals"]))
    notes = list(result.get("notes") or [])
    machine = result.get("machine") or {}
    stamp = f"Measured {result.get('created', '?')}"
    if result.get("commit"):
        stamp += f" at commit {result['commit'][:10]}" + (" with uncommitted changes (not for the README)" if result.get("dirty") else "")
    if result.get("elapsed_s") is not None:
        stamp += f"; the benchmark took {result['elapsed_s']} s"
    notes.append(stamp + f"; raw figures in `benchmarks/results/{result['name']}.json`.")
    parts.append("\n".join(f"- {n}" for n in notes))
    return "\n\n".join(parts) + "\n"
