from __future__ import annotations

import json
import subprocess
import time
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from smashconfig import SmashConfig
from smashconfig.cli import main
from smashconfig.errors import (
    ConfigFileError,
    ConfigFileNotFoundError,
    SmashConfigError,
    GroupConflictError,
    IllegalValueError,
    InactiveAlgorithmError,
    TargetModulesTypeError,
    UnknownKeyError,
    WrongTypeError,
)

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (REPO / "configs").glob("*.yaml") if not p.name.startswith("search-"))  # searches: test_tune_search.py
HEAVY = ("torch", "ConfigSpace", "optimum.quanto", "peft", "transformers")


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ----- the examples ---------------------------------------------------------------------------


def test_there_are_examples():
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_loads(path):
    cfg = SmashConfig.from_yaml(path)
    assert cfg.active_algorithms
    assert SmashConfig.from_yaml(cfg.to_yaml()) == cfg
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert SmashConfig.from_dict(data) == cfg


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_validates_on_the_command_line(path, capsys):
    assert main(["validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert yaml.safe_load(captured.out) == SmashConfig.from_yaml(path).to_dict()


def test_the_int8_example_means_quanto_int8():
    cfg = SmashConfig.from_yaml(REPO / "configs" / "quanto-int8.yaml")
    assert cfg.active_algorithms == ["quanto"]
    assert cfg["quanto_weight_bits"] == "qint8"


# ----- forms ----------------------------------------------------------------------------------


def test_nested_form(tmp_path):
    path = write(
        tmp_path,
        """\
        quanto:
          weight_bits: qint4
          activation_bits: qint8
          target_modules:
            include: ["transformer.*"]
            exclude: ["*embed*"]
        lora:
          r: 16
          alpha: 32
          dropout: 0.05
        """,
    )
    cfg = SmashConfig.from_yaml(path)
    assert cfg.to_dict(defaults=False) == {
        "quanto": {
            "weight_bits": "qint4",
            "activation_bits": "qint8",
            "target_modules": {"include": ["transformer.*"], "exclude": ["*embed*"]},
        },
        "lora": {"r": 16, "alpha": 32, "dropout": 0.05},
    }


def test_flat_form(tmp_path):
    path = write(
        tmp_path,
        """\
        quantizer: quanto
        quanto_weight_bits: qint4
        quanto_target_modules:
          include: transformer.*
        adapter: lora
        lora_r: 16
        """,
    )
    cfg = SmashConfig.from_yaml(path)
    assert cfg.active_algorithms == ["quanto", "lora"]
    assert cfg["quanto_weight_bits"] == "qint4"
    assert cfg["quanto_target_modules"] == {"include": ["transformer.*"]}
    assert cfg.to_dict()["quanto"]["target_modules"] == {"include": ["transformer.*"], "exclude": []}
    assert cfg["lora_r"] == 16


def test_flat_and_nested_forms_agree(tmp_path):
    flat = write(tmp_path, "quantizer: quanto\nquanto_weight_bits: qint2\nadapter: lora\nlora_alpha: 4\n", "flat.yaml")
    nested = write(tmp_path, "quanto:\n  weight_bits: qint2\nlora:\n  alpha: 4\n", "nested.yaml")
    assert SmashConfig.from_yaml(flat) == SmashConfig.from_yaml(nested)


def test_flat_hyperparameter_before_its_group_key(tmp_path):
    path = write(tmp_path, "lora_r: 4\nadapter: lora\n")
    assert SmashConfig.from_yaml(path)["lora_r"] == 4


def test_section_with_no_value_activates_defaults(tmp_path):
    path = write(tmp_path, "lora:\n")
    cfg = SmashConfig.from_yaml(path)
    assert cfg.active_algorithms == ["lora"]
    assert cfg.params("lora") == {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": None, "overrides": []}


def test_empty_mapping_section_activates_defaults(tmp_path):
    path = write(tmp_path, "quanto: {}\nlora:\n")
    cfg = SmashConfig.from_yaml(path)
    assert cfg.active_algorithms == ["quanto", "lora"]
    assert cfg["quanto_weight_bits"] == "qint8"


def test_no_key_of_a_file_is_dropped(tmp_path):
    data = {
        "quanto": {
            "weight_bits": "qfloat8",
            "activation_bits": "qfloat8",
            "target_modules": {"include": ["a.*", "b.?"], "exclude": ["*c"]},
        },
        "lora": {"r": 3, "alpha": 5, "dropout": 0.5, "target_modules": {"include": ["x.*"], "exclude": []}, "overrides": []},
    }
    path = write(tmp_path, yaml.safe_dump(data))
    assert SmashConfig.from_yaml(path).to_dict(defaults=False) == data


def test_yaml_text_and_string_path_and_path_agree(tmp_path):
    text = "quanto:\n  weight_bits: qint4\n"
    path = write(tmp_path, text)
    assert SmashConfig.from_yaml(text) == SmashConfig.from_yaml(str(path)) == SmashConfig.from_yaml(path)


def test_single_line_yaml_text():
    assert SmashConfig.from_yaml("lora: {r: 4}")["lora_r"] == 4


def test_yaml_none_string_is_not_null(tmp_path):
    path = write(tmp_path, "quanto:\n  activation_bits: none\n")
    assert SmashConfig.from_yaml(path)["quanto_activation_bits"] == "none"


# ----- errors with file:line ------------------------------------------------------------------


def test_malformed_yaml_says_file_and_line(tmp_path):
    path = write(tmp_path, "quanto:\n  weight_bits: qint4\n  target_modules: {include: [a\n")
    with pytest.raises(ConfigFileError) as info:
        SmashConfig.from_yaml(path)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert message.startswith(f"{path}:")
    line = int(message[len(str(path)) + 1 :].split(":", 1)[0])
    assert line in (3, 4)
    assert "malformed YAML" in message


def test_bad_indentation_says_file_and_line(tmp_path):
    path = write(tmp_path, "quanto:\n  weight_bits: qint4\n activation_bits: qint8\n")
    with pytest.raises(ConfigFileError) as info:
        SmashConfig.from_yaml(path)
    assert f"{path}:3" in str(info.value)


def test_python_object_tag_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "executed"
    path = write(
        tmp_path,
        f"""\
        quanto:
          weight_bits: !!python/object/apply:os.system ["touch {marker}"]
        """,
    )
    with pytest.raises(ConfigFileError) as info:
        SmashConfig.from_yaml(path)
    assert not marker.exists()
    assert f"{path}:2" in str(info.value)
    assert "python/object/apply" in str(info.value)


def test_python_object_tag_at_the_top_level_is_refused(tmp_path):
    path = write(tmp_path, "!!python/object:collections.OrderedDict\nquanto: {}\n")
    with pytest.raises(ConfigFileError) as info:
        SmashConfig.from_yaml(path)
    assert f"{path}:1" in str(info.value)
    assert "python/object" in str(info.value)


def test_python_name_tag_is_refused(tmp_path):
    path = write(tmp_path, "lora:\n  r: !!python/name:os.getpid\n")
    with pytest.raises(ConfigFileError) as info:
        SmashConfig.from_yaml(path)
    assert f"{path}:2" in str(info.value)


def test_merge_keys_and_anchors_share_settings(tmp_path):
    path = write(tmp_path, "lora:\n  <<: {r: 4, alpha: 8}\n  alpha: 16\n")
    assert SmashConfig.from_yaml(path) == SmashConfig({"lora": {"r": 4, "alpha": 16}})


@pytest.mark.parametrize(
    "text, line",
    [("lora:\n  <<: {r: 0}\n  alpha: 4\n", 2), ("lora:\n  alpha: 4\n  <<: [{dropout: 0.1}, {r: 0}]\n", 3)],
)
def test_a_bad_value_brought_in_by_a_merge_points_at_its_own_line(tmp_path, text, line):
    path = write(tmp_path, text)
    with pytest.raises(IllegalValueError) as info:
        SmashConfig.from_yaml(path)
    assert f"{path}:{line}:" in str(info.value)


def test_a_config_can_be_read_from_a_pipe(tmp_path):
    import os

    fifo = tmp_path / "config.pipe"
    os.mkfifo(fifo)
    pid = os.fork()
    if pid == 0:  # the writer
        with open(fifo, "w", encoding="utf-8") as handle:
            handle.write("lora: {r: 4}\n")
        os._exit(0)
    try:
        assert SmashConfig.from_yaml(fifo) == SmashConfig({"lora": {"r": 4}})
    finally:
        os.waitpid(pid, 0)


def test_a_date_is_a_value_of_the_wrong_type_not_an_unsafe_tag(tmp_path):
    path = write(tmp_path, "quanto:\n  weight_bits: 2024-01-01\n")
    with pytest.raises(SmashConfigError) as info:
        SmashConfig.from_yaml(path)
    assert f"{path}:2" in str(info.value) and "weight_bits" in str(info.value)
    assert "tag" not in str(info.value)


def test_unknown_hyperparameter_says_file_line_and_did_you_mean(tmp_path):
    path = write(tmp_path, "# int4 weights\nquanto:\n  weigth_bits: qint4\n")
    with pytest.raises(UnknownKeyError) as info:
        SmashConfig.from_yaml(path)
    assert isinstance(info.value, KeyError)
    message = str(info.value)
    assert f"{path}:3" in message
    assert "'weigth_bits'" in message
    assert "Did you mean 'weight_bits'" in message


def test_unknown_algorithm_says_file_line_and_did_you_mean(tmp_path):
    path = write(tmp_path, "lora:\n  r: 4\nquantto:\n  weight_bits: qint4\n")
    with pytest.raises(UnknownKeyError) as info:
        SmashConfig.from_yaml(path)
    message = str(info.value)
    assert f"{path}:3" in message
    assert "'quantto'" in message
    assert "Did you mean 'quanto'" in message


def test_unknown_flat_key_says_file_line_and_did_you_mean(tmp_path):
    path = write(tmp_path, "quantizer: quanto\nquanto_weigth_bits: qint4\n")
    with pytest.raises(UnknownKeyError) as info:
        SmashConfig.from_yaml(path)
    assert f"{path}:2" in str(info.value)
    assert "'quanto_weight_bits'" in str(info.value)


def test_illegal_value_says_file_and_line(tmp_path):
    path = write(tmp_path, "quanto:\n  weight_bits: qint8\nlora:\n  r: 0\n")
    with pytest.raises(IllegalValueError) as info:
        SmashConfig.from_yaml(path)
    assert f"{path}:4" in str(info.value)
    assert "lora_r" in str(info.value)


def test_quoted_number_stays_a_wrong_type(tmp_path):
    path = write(tmp_path, "lora:\n  r: '32'\n")
    with pytest.raises(WrongTypeError) as info:
        SmashConfig.from_yaml(path)
    assert f"{path}:2" in str(info.value)
    assert "integer" in str(info.value)


def test_bad_target_modules_says_file_and_line(tmp_path):
    path = write(tmp_path, "quanto:\n  weight_bits: qint8\n  target_modules: [q_proj]\n")
    with pytest.raises(TargetModulesTypeError) as info:
        SmashConfig.from_yaml(path)
    assert f"{path}:3" in str(info.value)
    assert "quanto_target_modules" in str(info.value)


def test_inactive_flat_key_says_file_and_line_and_how_to_activate(tmp_path):
    path = write(tmp_path, "quanto: {}\nlora_r: 4\n")
    with pytest.raises(InactiveAlgorithmError) as info:
        SmashConfig.from_yaml(path)
    assert f"{path}:2" in str(info.value)
    assert "lora:" in str(info.value)


def test_top_level_list_is_refused(tmp_path):
    path = write(tmp_path, "- quanto\n- lora\n")
    with pytest.raises(ConfigFileError) as info:
        SmashConfig.from_yaml(path)
    assert f"{path}:1" in str(info.value)
    assert "mapping" in str(info.value)


def test_top_level_scalar_is_refused(tmp_path):
    path = write(tmp_path, "quanto\n")
    with pytest.raises(ConfigFileError) as info:
        SmashConfig.from_yaml(path)
    assert str(path) in str(info.value)
    assert "mapping" in str(info.value)


def test_empty_file_is_refused(tmp_path):
    path = write(tmp_path, "# nothing here\n")
    with pytest.raises(ConfigFileError) as info:
        SmashConfig.from_yaml(path)
    assert str(path) in str(info.value)


def test_duplicate_top_level_key(tmp_path):
    path = write(tmp_path, "quanto:\n  weight_bits: qint4\nlora: {}\nquanto:\n  weight_bits: qint8\n")
    with pytest.raises(ConfigFileError) as info:
        SmashConfig.from_yaml(path)
    message = str(info.value)
    assert f"{path}:4" in message
    assert "'quanto'" in message
    assert "line 1" in message


def test_duplicate_nested_key(tmp_path):
    path = write(tmp_path, "quanto:\n  weight_bits: qint4\n  weight_bits: qint8\n")
    with pytest.raises(ConfigFileError) as info:
        SmashConfig.from_yaml(path)
    assert f"{path}:3" in str(info.value)
    assert "'weight_bits'" in str(info.value)


def test_the_same_key_in_nested_and_flat_form(tmp_path):
    path = write(tmp_path, "quanto:\n  weight_bits: qint4\nquanto_weight_bits: qint8\n")
    with pytest.raises(IllegalValueError) as info:
        SmashConfig.from_yaml(path)
    assert f"{path}:3" in str(info.value)
    assert "'quanto_weight_bits'" in str(info.value)


def test_section_and_group_key_disagree(tmp_path):
    path = write(tmp_path, "quanto: {}\nquantizer: null\n")
    with pytest.raises(GroupConflictError) as info:
        SmashConfig.from_yaml(path)
    assert f"{path}:2" in str(info.value)


def test_path_that_does_not_exist(tmp_path):
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigFileNotFoundError) as info:
        SmashConfig.from_yaml(missing)
    assert isinstance(info.value, FileNotFoundError)
    assert str(missing) in str(info.value)


def test_string_path_that_does_not_exist(tmp_path):
    missing = str(tmp_path / "missing.yaml")
    with pytest.raises(ConfigFileNotFoundError) as info:
        SmashConfig.from_yaml(missing)
    assert missing in str(info.value)


@pytest.mark.parametrize("as_str", [False, True], ids=["path", "str"])
def test_a_directory_is_not_a_config_file(tmp_path, capsys, as_str):
    with pytest.raises(ConfigFileError, match="is a directory, not a YAML config file"):
        SmashConfig.from_yaml(str(tmp_path) if as_str else tmp_path)
    assert main(["validate", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_file_that_is_not_utf8_is_a_config_file_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("quanto:\n  weight_bits: q\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigFileError) as info:
        SmashConfig.from_yaml(path)
    assert str(path) in str(info.value)


def test_cli_validate_file_that_is_not_utf8(tmp_path, capsys):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("quanto:\n  weight_bits: q\u00e9\n".encode("latin-1"))
    assert main(["validate", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert str(path) in lines[0]


def test_yaml_text_errors_give_a_line():
    with pytest.raises(UnknownKeyError) as info:
        SmashConfig.from_yaml("lora:\n  r: 4\n  rank: 8\n")
    assert ":3" in str(info.value)


# ----- JSON -----------------------------------------------------------------------------------


def test_malformed_json_says_file_and_line(tmp_path):
    path = write(tmp_path, '{\n  "quanto": {\n    "weight_bits": "qint4",\n  }\n}\n', "config.json")
    with pytest.raises(ConfigFileError) as info:
        SmashConfig.from_json(path)
    assert f"{path}:4" in str(info.value)


def test_duplicate_json_key(tmp_path):
    path = write(tmp_path, '{"quanto": {}, "quanto": {"weight_bits": "qint4"}}', "config.json")
    with pytest.raises(ConfigFileError) as info:
        SmashConfig.from_json(path)
    assert "'quanto'" in str(info.value)


def test_json_top_level_must_be_an_object(tmp_path):
    path = write(tmp_path, '["quanto"]', "config.json")
    with pytest.raises(ConfigFileError):
        SmashConfig.from_json(path)


# ----- command line ---------------------------------------------------------------------------


def test_cli_validate_good_file(tmp_path, capsys):
    path = write(tmp_path, "quanto:\n  weight_bits: qint4\nlora:\n")
    assert main(["validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert yaml.safe_load(captured.out) == {
        "quanto": {"weight_bits": "qint4", "activation_bits": "none", "target_modules": None, "overrides": []},
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": None, "overrides": []},
    }


def test_cli_validate_prints_flat_files_in_normal_form(tmp_path, capsys):
    path = write(tmp_path, "quantizer: quanto\nquanto_target_modules: {include: model.*}\n")
    assert main(["validate", str(path)]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert data == {
        "quanto": {
            "weight_bits": "qint8",
            "activation_bits": "none",
            "target_modules": {"include": ["model.*"], "exclude": []},
            "overrides": [],
        }
    }


def test_cli_validate_json_file(tmp_path, capsys):
    path = write(tmp_path, json.dumps({"lora": {"r": 2}}), "config.json")
    assert main(["validate", str(path)]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["lora"]["r"] == 2


@pytest.mark.parametrize(
    "text, line",
    [
        ("quanto:\n  weigth_bits: qint4\n", 2),
        ("lora:\n  r: 4\nlora:\n  r: 8\n", 3),
        ("quanto:\n  weight_bits: [qint4\n", 3),
        ("lora:\n  dropout: '0.1'\n", 2),
        ("quanto:\n  weight_bits: !!python/object/apply:os.getpid []\n", 2),
    ],
)
def test_cli_validate_bad_file(tmp_path, capsys, text, line):
    path = write(tmp_path, text)
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert f"{path}:{line}" in lines[0]
    assert "Traceback" not in captured.err


def test_cli_validate_missing_file(tmp_path, capsys):
    missing = tmp_path / "missing.yaml"
    assert main(["validate", str(missing)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert str(missing) in lines[0]


def test_cli_algorithms_lists_hyperparameters_legal_values_and_defaults(capsys):
    assert main(["algorithms"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()

    def line_of(key):
        found = [line for line in lines if key in line.split()]
        assert len(found) == 1, key
        return found[0]

    assert any(line.startswith("quanto") for line in lines)
    assert any(line.startswith("lora") for line in lines)
    weight_bits = line_of("quanto_weight_bits")
    assert "default 'qint8'" in weight_bits
    for value in ("qint2", "qint4", "qint8", "qfloat8"):
        assert value in weight_bits
    activation_bits = line_of("quanto_activation_bits")
    assert "default 'none'" in activation_bits
    assert "qfloat8" in activation_bits
    assert "default 8" in line_of("lora_r") and "1024" in line_of("lora_r")
    assert "default 16" in line_of("lora_alpha") and "2048" in line_of("lora_alpha")
    assert "default 0.0" in line_of("lora_dropout") and "0.9" in line_of("lora_dropout")
    assert "default None" in line_of("quanto_target_modules")
    assert "default None" in line_of("lora_target_modules")
    assert out.index("quanto") < out.index("lora")


def test_cli_without_a_command_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "usage" in capsys.readouterr().err


# ----- import cost ----------------------------------------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_import_smashconfig_imports_no_backend():
    code = (
        "import smashconfig, sys\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(heavy)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_help_imports_no_backend():
    code = (
        "import sys\n"
        "from smashconfig import cli\n"
        "try:\n"
        "    cli.main(['--help'])\n"
        "    code = None\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('EXIT', code, heavy)\n"
        "sys.exit(1 if heavy or code not in (0, None) else 0)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "usage: smashconfig" in result.stdout
    for command in ("algorithms", "validate", "targets", "smash"):
        assert command in result.stdout


def test_python_m_smashconfig_help():
    result = subprocess.run(
        [sys.executable, "-m", "smashconfig", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "usage: smashconfig" in result.stdout


def test_nested_aliases_are_refused_before_they_expand():
    text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 12)
    )
    started = time.perf_counter()
    with pytest.raises(ConfigFileError, match="alias bomb") as caught:
        SmashConfig.from_yaml(text)
    assert time.perf_counter() - started < 5
    assert len(str(caught.value)) < 500


def test_loaders_take_the_keyword_names_of_the_api(tmp_path):
    path = write(tmp_path, "quanto:\n  weight_bits: qint4\n")
    by_yaml = SmashConfig.from_yaml(path_or_text=path)
    assert SmashConfig.from_yaml(path_or_text="quanto: {weight_bits: qint4}") == by_yaml
    assert SmashConfig.from_json(path_or_text=by_yaml.to_json()) == by_yaml
    assert SmashConfig.from_dict(d={"quanto": {"weight_bits": "qint4"}}) == by_yaml
