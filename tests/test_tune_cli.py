"""``smashconfig tune``: bad input is one line and exit 2 before any trial; workers share one study."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from smashconfig.cli import main

REPO = Path(__file__).resolve().parent.parent
LLAMA_SEARCH = REPO / "configs" / "search-tiny-llama.yaml"
RAN = re.compile(r"study 'shared' in \S+: (\d+) trials \((\d+) run now, (\d+) failed\)")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "search.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "search, extra, words",
    [
        ("quanto:\n  weight_bits: [qint8, qint9]\n", [], "search.yaml:2: quanto_weight_bits = 'qint9' is not allowed"),
        ("lora:\n  r: {low: 0, high: 4000}\n", [], "search.yaml:2: lora_r = 0 is not allowed"),
        ("objectives: [size, fidelity]\nquanto:\n", [], "search.yaml:1: unknown objective 'fidelity'"),
        ("quanto:\n", ["--storage", "sqlite:////no/such/folder/s.db"], "storage 'sqlite:////no/such/folder/s.db'"),
        ("quanto:\n", ["--storage", "nosuchdriver://host/db"], "cannot be opened"),
        ("quanto:\n", ["--trials", "0"], "trials = 0 runs nothing"),
        ("quanto:\n", ["--data", "missing.txt"], "--data 'missing.txt' is not a file"),
        ("quanto:\n", ["--output", "search.yaml/results"], "'search.yaml' is not a folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_any_trial(tmp_path, monkeypatch, capsys, search, extra, words):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, search)
    code, out, err = run(capsys, "tune", path, "--model", "tiny-llama", *extra)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("smashconfig: error: ")
    assert words in lines[0]
    assert "trial" not in err.replace("trials = 0", "")
    assert not (tmp_path / "smashconfig-tune.db").exists()


def test_data_needs_the_models_tokenizer(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "texts.txt").write_text("one sample\nanother sample\n", encoding="utf-8")
    code, out, err = run(capsys, "tune", write(tmp_path, "quanto:\n"), "--model", "tiny-llama", "--data", "texts.txt")
    assert code == 2 and "--data needs the model's tokenizer" in err


def test_tune_writes_a_front_that_smash_takes_as_is(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "texts.txt").write_text("\n".join(f"Sentence number {i} about compression." for i in range(10)), encoding="utf-8")
    search = write(tmp_path, "objectives: [size, cosine]\nquanto:\n  weight_bits: [qint8, qfloat8]\n  target_modules:\n"
                             "    - {include: ['encoder.*']}\n    - {include: ['encoder.layer.*.attention.*']}\n")
    code, out, err = run(capsys, "tune", search, "--model", "minilm", "--data", "texts.txt", "--trials", "6", "--output", "found")
    assert code == 0, err
    assert "study 'search-BertModel'" in out and "6 trials (6 run now, 0 failed)" in out
    assert out.count("quanto(weight_bits=") >= 2
    found = tmp_path / "found"
    assert {"front.png", "front.txt", "trials.json"} <= {p.name for p in found.iterdir()}
    configs = sorted(found.glob("trial-*.yaml"))
    assert len(configs) >= 2
    code, out, err = run(capsys, "smash", configs[0], "--model", "minilm")
    assert code == 0, err
    assert "x smaller" in out
    assert yaml.safe_load(configs[0].read_text())["quanto"]["weight_bits"] in ("qint8", "qfloat8")
    code, again, _ = run(capsys, "tune", search, "--model", "minilm", "--data", "texts.txt", "--trials", "6", "--output", "found")
    assert code == 0 and "6 trials (0 run now, 0 failed)" in again


def test_two_processes_given_one_sqlite_storage_share_one_study(tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    command = [sys.executable, "-m", "smashconfig", "tune", str(LLAMA_SEARCH), "--model", "tiny-llama", "--trials", "10",
               "--storage", storage, "--study", "shared"]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    workers = [
        subprocess.Popen(command + ["--seed", str(seed), "--output", str(tmp_path / f"out{seed}")], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for seed in (1, 2)
    ]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], [err[-2000:] for _, err in outputs]
    study = optuna.load_study(study_name="shared", storage=storage)
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(len(numbers)))
    assert 10 <= len(numbers) <= 11  # each worker stops once the study holds 10 finished trials
    ran = [int(RAN.search(out).group(2)) for out, _ in outputs]
    assert sum(ran) == len(numbers)
