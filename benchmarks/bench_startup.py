"""Start-up cost: ``import smashconfig`` and ``smashconfig --help``, each in fresh processes.

Wall time of whole commands (best of several runs after a warm-up), measured from a scratch
directory so that the installed package is what runs, as for a user. Each command is also checked,
in its own fresh process, for the heavy modules it must not import (torch, ConfigSpace,
optimum.quanto, peft, transformers). Goals: import < 0.3 s, --help < 0.5 s.

    .venv/bin/python benchmarks/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

import common

RUNS = 10
IMPORT_GOAL_S = 0.3
HELP_GOAL_S = 0.5
#: Not forbidden, but worth seeing when they show up in start-up.
NOTABLE_MODULES = ("numpy", "yaml", "safetensors", "tqdm", "scipy", "smashconfig.config.smash_config", "smashconfig.cli.commands")

_LOADED = """
import sys
def _loaded(names):
    return sorted(n for n in names if n in sys.modules or any(m.startswith(n + ".") for m in sys.modules))
"""

IMPORT_SNIPPET = _LOADED + """
import time
t0 = time.perf_counter()
import smashconfig
elapsed = time.perf_counter() - t0
emit({{"import_s": elapsed, "heavy": _loaded({heavy!r}), "notable": _loaded({notable!r}),
      "n_modules": len(sys.modules)}})
"""

CLI_MAIN_SNIPPET = _LOADED + """
import contextlib, io
from smashconfig.cli import main
out = io.StringIO()
code = None
with contextlib.redirect_stdout(out):
    try:
        main(["--help"])
    except SystemExit as exit:
        code = exit.code
emit({{"exit": code, "usage": out.getvalue().startswith("usage:"), "heavy": _loaded({heavy!r}),
      "notable": _loaded({notable!r}), "n_modules": len(sys.modules)}})
"""

RUN_MODULE_SNIPPET = _LOADED + """
import contextlib, io, runpy
out = io.StringIO()
code = None
sys.argv = ["smashconfig", "--help"]
with contextlib.redirect_stdout(out):
    try:
        runpy.run_module("smashconfig", run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        code = exit.code
emit({{"exit": code, "usage": out.getvalue().startswith("usage:"), "heavy": _loaded({heavy!r}),
      "notable": _loaded({notable!r}), "n_modules": len(sys.modules)}})
"""


def _importtime_modules(stderr: str) -> List[str]:
    """Module names from ``python -X importtime`` output."""
    names = []
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+\d+\s+\|\s+\d+\s+\|\s*(\S+)", line)
        if m:
            names.append(m.group(1))
    return names


def _heavy_in(names: Sequence[str]) -> List[str]:
    return sorted(h for h in common.HEAVY_MODULES if any(n == h or n.startswith(h + ".") for n in names))


def _top_imports(stderr: str, n: int = 8) -> List[str]:
    """The ``n`` top-level imports with the largest cumulative time, from ``-X importtime`` output."""
    rows = []
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)", line)
        if m and len(m.group(3)) == 1:
            rows.append((int(m.group(2)), m.group(4)))
    rows.sort(reverse=True)
    return [f"{name} {us / 1000:.1f} ms" for us, name in rows[:n]]


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="timed runs per command (best of)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    common.byte_compile_project()

    python = sys.executable
    console = Path(python).parent / "smashconfig"
    heavy, notable = common.HEAVY_MODULES, NOTABLE_MODULES
    import subprocess

    with tempfile.TemporaryDirectory(prefix="smashbench-startup-") as scratch:
        cwd = Path(scratch)

        def timed(argv: List[str]) -> Dict[str, Any]:
            print(f"bench_startup: timing {' '.join(argv)} ({args.runs} runs) ...", flush=True)
            return common.time_command(argv, runs=args.runs, warmup=1, cwd=cwd)

        bare = timed([python, "-c", "pass"])
        imp = timed([python, "-c", "import smashconfig"])
        help_console = timed([str(console), "--help"]) if console.exists() else None
        help_module = timed([python, "-m", "smashconfig", "--help"])

        in_process = [common.run_python(IMPORT_SNIPPET.format(heavy=heavy, notable=notable), cwd=cwd) for _ in range(args.runs)]
        cli_main = common.run_python(CLI_MAIN_SNIPPET.format(heavy=heavy, notable=notable), cwd=cwd)
        run_module = common.run_python(RUN_MODULE_SNIPPET.format(heavy=heavy, notable=notable), cwd=cwd)

        def importtime(argv: List[str]) -> str:
            proc = subprocess.run([python, "-X", "importtime", *argv], cwd=str(cwd), capture_output=True, text=True)
            if proc.returncode != 0:
                raise common.BenchmarkError(f"-X importtime {argv} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
            return proc.stderr

        import_trace = importtime(["-c", "import smashconfig"])
        console_trace = importtime([str(console), "--help"]) if console.exists() else ""

    if help_console is not None and not help_console["stdout"].startswith("usage:"):
        raise common.BenchmarkError("smashconfig --help printed no usage line")
    if not help_module["stdout"].startswith("usage:"):
        raise common.BenchmarkError("python -m smashconfig --help printed no usage line")
    for name, r in (("cli.main(['--help'])", cli_main), ("python -m smashconfig --help", run_module)):
        if r["exit"] not in (0, None) or not r["usage"]:
            raise common.BenchmarkError(f"{name}: exit {r['exit']!r}, usage printed: {r['usage']}")

    import_heavy = in_process[0]["heavy"]
    console_heavy = _heavy_in(_importtime_modules(console_trace)) if console_trace else None
    help_heavy = sorted(set(cli_main["heavy"]) | set(run_module["heavy"]) | set(console_heavy or []))
    in_process_best = min(r["import_s"] for r in in_process)

    def over_bare(t: Dict[str, Any]) -> str:
        return common.fmt_s(max(0.0, t["best"] - bare["best"]))

    def none_or(names: Sequence[str]) -> str:
        return ", ".join(names) if names else "none"

    rows = [
        {"command": "`python -c pass` (interpreter start, reference)", "best": common.fmt_s(bare["best"]),
         "median": common.fmt_s(bare["median"])},
        {"command": "`python -c \"import smashconfig\"`", "best": common.fmt_s(imp["best"]),
         "median": common.fmt_s(imp["median"]), "over interpreter start": over_bare(imp),
         "heavy modules imported": none_or(import_heavy)},
        {"command": "`import smashconfig`, timed inside the process", "best": common.fmt_s(in_process_best),
         "median": common.fmt_s(sorted(r["import_s"] for r in in_process)[len(in_process) // 2]),
         "heavy modules imported": none_or(import_heavy)},
    ]
    if help_console is not None:
        rows.append({"command": "`smashconfig --help` (console script)", "best": common.fmt_s(help_console["best"]),
                     "median": common.fmt_s(help_console["median"]), "over interpreter start": over_bare(help_console),
                     "heavy modules imported": none_or(console_heavy or [])})
    rows.append({"command": "`python -m smashconfig --help`", "best": common.fmt_s(help_module["best"]),
                 "median": common.fmt_s(help_module["median"]), "over interpreter start": over_bare(help_module),
                 "heavy modules imported": none_or(run_module["heavy"])})
    rows.append({"command": "`smashconfig.cli.main(['--help'])` in a fresh process",
                 "heavy modules imported": none_or(cli_main["heavy"])})

    goals = [
        common.goal(f"`python -c \"import smashconfig\"` < {IMPORT_GOAL_S} s", common.fmt_s(imp["best"]),
                    imp["best"] < IMPORT_GOAL_S),
        common.goal("`import smashconfig` imports none of " + ", ".join(heavy), none_or(import_heavy),
                    not import_heavy),
    ]
    if help_console is not None:
        goals.append(common.goal(f"`smashconfig --help` < {HELP_GOAL_S} s", common.fmt_s(help_console["best"]),
                                 help_console["best"] < HELP_GOAL_S))
    else:
        goals.append(common.goal(f"`smashconfig --help` < {HELP_GOAL_S} s", f"no console script at {console}", False))
    goals += [
        common.goal(f"`python -m smashconfig --help` < {HELP_GOAL_S} s", common.fmt_s(help_module["best"]),
                    help_module["best"] < HELP_GOAL_S),
        common.goal("`--help` imports none of " + ", ".join(heavy), none_or(help_heavy), not help_heavy),
    ]
    notes = [
        f"Wall time of the whole command, best of {args.runs} runs after one warm-up run, each a fresh "
        f"process started from a scratch directory (the editable install is what runs).",
        "Heavy modules are checked in separate fresh processes: via `sys.modules` after `import smashconfig`, "
        "after `smashconfig.cli.main(['--help'])` and after `runpy` of `smashconfig` as `__main__`; and for "
        "the console script via `python -X importtime`.",
        f"Other modules loaded by `import smashconfig`: {none_or(in_process[0]['notable'])} "
        f"({in_process[0]['n_modules']} modules in `sys.modules`); by `--help`: "
        f"{none_or(cli_main['notable'])} ({cli_main['n_modules']} modules).",
        "Slowest top-level imports of `import smashconfig` (`-X importtime`, cumulative): "
        + ", ".join(_top_imports(import_trace)) + ".",
    ]
    if console_trace:
        notes.append("... of `smashconfig --help`: " + ", ".join(_top_imports(console_trace)) + ".")
    data = {
        "bare": bare, "import": imp, "help_console": help_console, "help_module": help_module,
        "import_in_process": in_process, "cli_main": cli_main, "run_module": run_module,
        "console_heavy_importtime": console_heavy,
    }
    for t in (bare, imp, help_console, help_module):
        if t is not None:
            t.pop("stdout", None)
    common.write_result(
        __file__,
        title="Start-up: `import smashconfig` and `smashconfig --help`",
        columns=["command", "best", "median", "over interpreter start", "heavy modules imported"],
        rows=rows,
        goals=goals,
        notes=notes,
        data=data,
        started=started,
    )
    common.print_result(__file__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
