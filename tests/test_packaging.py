from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

SKIP = shutil.ignore_patterns(
    ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis", "benchmarks", "tests"
)

CHECK = """
import json, sys
import smashconfig
import smashconfig.algorithms.quanto as quanto
import smashconfig.algorithms.lora as lora
from smashconfig.contract.registry import default_registry
from smashconfig import SmashConfig
print(json.dumps({
    "smashconfig": smashconfig.__file__,
    "quanto": quanto.__file__,
    "lora": lora.__file__,
    "algorithms": sorted(default_registry().algorithms()),
    "active": SmashConfig(["quanto", "lora"]).active_algorithms,
}))
"""


def run(args, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_the_wheel_installs_and_imports_every_algorithm_outside_the_repository(repo_root, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    source = tmp_path / "source"
    shutil.copytree(repo_root, source, ignore=SKIP)
    wheels = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", ".", "-w", wheels], source, env)
    (wheel,) = wheels.glob("torch_smashconfig-*.whl")

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--quiet", wheel], tmp_path, env)
    purelib = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, env).stdout.strip())
    (purelib / "repo-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    found = json.loads(run([python, "-c", CHECK], outside, env).stdout.strip().splitlines()[-1])

    for name in ("smashconfig", "quanto", "lora"):
        path = Path(found[name]).resolve()
        assert path.is_relative_to(venv.resolve()), (name, path)
        assert not path.is_relative_to(repo_root.resolve()), (name, path)
    assert {"quanto", "lora"} <= set(found["algorithms"])
    assert found["active"] == ["quanto", "lora"]

    listing = run([venv / "bin" / "smashconfig", "algorithms"], outside, env).stdout
    assert "quanto" in listing and "lora" in listing
