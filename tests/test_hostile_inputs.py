"""Hostile inputs: pattern bombs, alias bombs, endless files, huge values, wrong types, shared modules.

Each case checks the error's type (a ``SmashConfigError`` that is also the matching builtin),
that the message names the key, file or pattern, and that nothing changed: the config, the
model, the files on disk. Cases that could hang run under an alarm.
"""

from __future__ import annotations

import copy
import os
import signal
import sys
import time
import warnings
import weakref
from pathlib import Path

import pytest
import torch
from torch import nn

from smashconfig import SmashConfig
from smashconfig.errors import (
    ConfigFileAccessError,
    ConfigFileError,
    ConfigFileNotFoundError,
    NoTargetsError,
    SmashConfigError,
    TargetModulesError,
    TargetPatternWarning,
    WrongTypeError,
    describe,
    short_repr,
)
from smashconfig.target_modules import expand_list_of_targeted_paths
from smashconfig.target_modules.patterns import PatternSet
from smashconfig.target_modules.tree import ModuleSlots, index_modules

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def deadline():
    """``with deadline(seconds):`` fails the test (instead of hanging) when the block runs longer."""

    def expired(signum, frame):  # noqa: ARG001
        raise TimeoutError("took longer than its time limit")

    class Deadline:
        def __init__(self, seconds: int) -> None:
            self.seconds = seconds

        def __enter__(self):
            self.previous = signal.signal(signal.SIGALRM, expired)
            signal.alarm(self.seconds)

        def __exit__(self, *exc):
            signal.alarm(0)
            signal.signal(signal.SIGALRM, self.previous)

    return Deadline


def blocks(n_blocks: int = 30, width: int = 12) -> nn.Module:
    """A model of ``n_blocks`` numbered blocks of ``width`` leaves: ``layers.7.3``."""
    model = nn.Module()
    model.layers = nn.ModuleList([nn.Sequential(*[nn.Identity() for _ in range(width)]) for _ in range(n_blocks)])
    return model


def structure(model: nn.Module) -> list:
    return [(name, type(module).__name__, id(module)) for name, module in model.named_modules()]


def quiet_expand(target_modules, model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetPatternWarning)
        return expand_list_of_targeted_paths(target_modules, model)


# --------------------------------------------------------------------------- A: glob bombs


GLOB_BOMBS = [
    "*?*?*?*?*?*?*?*?!",
    "*?" * 10 + "!",
    "*?" * 60 + "!",
    "*a" * 40 + "!",
    "*[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*[!a-z.0-9]",
    "*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*x",
    "*" + "?" * 200 + "*!",
    "[" * 500 + "*" * 500 + "!",
]


@pytest.mark.parametrize("bomb", GLOB_BOMBS)
def test_a_glob_bomb_matches_in_linear_time(bomb, deadline):
    model = blocks(60)
    before = structure(model)
    started = time.perf_counter()
    with deadline(10):
        with pytest.raises(NoTargetsError) as caught:
            expand_list_of_targeted_paths({"include": [bomb]}, model)
    assert time.perf_counter() - started < 2.0
    assert short_repr(bomb)[:20] in str(caught.value)
    assert structure(model) == before


@pytest.mark.parametrize("bomb", GLOB_BOMBS[:4])
def test_a_glob_bomb_on_a_very_long_path_is_fast(bomb, deadline):
    patterns = PatternSet([bomb, "*"])
    path = "a." * 5000 + "x"
    with deadline(10):
        started = time.perf_counter()
        assert patterns.first(path) == 1
        assert patterns.matches(0, path) is False
    assert time.perf_counter() - started < 2.0


def test_glob_bomb_next_to_patterns_that_match_only_warns(deadline):
    model = blocks(20)
    with deadline(10), pytest.warns(TargetPatternWarning, match=r"\*\?\*\?"):
        assert len(expand_list_of_targeted_paths({"include": ["layers.*", GLOB_BOMBS[1]]}, model)) == 1 + 20 * 13


def test_five_thousand_literal_patterns_take_well_under_a_second(deadline):
    model = blocks(300)  # 3,901 modules
    include = [f"layers.{i}.{j}" for i in range(500) for j in range(10)]
    with deadline(20):
        started = time.perf_counter()
        found = quiet_expand({"include": include}, model)
        elapsed = time.perf_counter() - started
    assert len(found) == 3000
    assert elapsed < 1.0


def test_five_thousand_literal_patterns_that_match_nothing_name_a_few(deadline):
    model = blocks(300)
    include = [f"nowhere.{i}" for i in range(5000)]
    with deadline(20), pytest.raises(NoTargetsError) as caught:
        expand_list_of_targeted_paths({"include": include}, model)
    assert "'nowhere.0'" in str(caught.value) and "4995 more" in str(caught.value)
    assert len(str(caught.value)) < 3000


@pytest.mark.parametrize(
    "make",
    [
        lambda i: f"*layers.{i % 300}.{i % 12}*",
        lambda i: f"*x{i}*y",
        lambda i: f"layers.?{i}*",
        lambda i: f"*[!a-z]{i}",
    ],
    ids=["common-pieces", "absent-pieces", "prefixed", "classes"],
)
def test_twenty_thousand_wildcard_patterns_take_seconds_not_minutes(make, deadline):
    model = blocks(300)
    include = [make(i) for i in range(20000)]
    reference = None
    with deadline(60):
        started = time.perf_counter()
        try:
            reference = quiet_expand({"include": include}, model)
        except NoTargetsError as error:
            assert repr(include[0]) in str(error)
        elapsed = time.perf_counter() - started
    assert elapsed < 30
    if reference is not None:
        assert reference == sorted(reference, key=[n for n, _ in model.named_modules() if n].index)


def test_many_patterns_with_many_misses_sum_up_their_warnings(deadline):
    model = blocks(10)
    include = ["layers.*"] + [f"*missing{i}*" for i in range(500)]
    with deadline(20), warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        expand_list_of_targeted_paths({"include": include}, model)
    messages = [str(w.message) for w in record]
    assert any("'*missing0*' matched no module" in m for m in messages)
    assert any("450 more include patterns matched no module" in m for m in messages)
    assert len(messages) == 51


def test_a_pattern_of_a_megabyte_is_cut_in_the_message(deadline):
    model = blocks(3)
    pattern = "x" * 10**6
    with deadline(10), pytest.raises(NoTargetsError) as caught:
        expand_list_of_targeted_paths({"include": [pattern]}, model)
    assert "xxxx" in str(caught.value) and len(str(caught.value)) < 3000


# --------------------------------------------------------------------------- A: models


def test_a_weakref_proxy_works_as_a_model():
    model = blocks(2, 2)
    proxy = weakref.proxy(model)
    assert expand_list_of_targeted_paths({"include": ["layers.0.*"]}, proxy) == ["layers.0", "layers.0.0", "layers.0.1"]
    assert index_modules(proxy).paths == index_modules(model).paths


def test_a_weakref_proxy_component_of_a_pipeline_works():
    class Pipeline:
        pass

    unet = blocks(1, 2)
    pipe = Pipeline()
    pipe.unet = weakref.proxy(unet)
    assert expand_list_of_targeted_paths({"include": ["unet.layers.0.1"]}, pipe) == ["unet.layers.0.1"]


def shared_model() -> nn.Module:
    model = nn.Module()
    model.a = model.b = nn.Linear(4, 4)
    model.c = nn.Linear(4, 4)
    return model


def test_a_shared_module_is_targeted_through_any_of_its_paths():
    model = shared_model()
    assert expand_list_of_targeted_paths({"include": ["b"]}, model) == ["a"]
    assert expand_list_of_targeted_paths({"include": ["*"], "exclude": ["a"]}, model) == ["a", "c"]
    assert expand_list_of_targeted_paths({"include": ["*"], "exclude": ["a", "b"]}, model) == ["c"]
    assert model.a is model.b


def test_a_pattern_that_matches_only_a_shared_path_does_not_warn():
    model = shared_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error", TargetPatternWarning)
        assert expand_list_of_targeted_paths({"include": ["c", "b"]}, model) == ["a", "c"]


def test_modules_inside_a_shared_container_are_reachable_at_every_path():
    model = nn.Module()
    model.first = model.second = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    assert expand_list_of_targeted_paths({"include": ["second.0"]}, model) == ["first.0"]
    assert "second.1" in index_modules(model)


def test_nested_sharing_does_not_multiply_without_bound(deadline):
    model = nn.Module()
    node = nn.Linear(2, 2)
    for _ in range(40):  # every level doubles the number of paths: 2**40 of them
        parent = nn.Module()
        parent.left = parent.right = node
        node = parent
    model.top = node
    with deadline(20):
        index = index_modules(model)
        assert len(index) == 41
        assert quiet_expand({"include": ["top.right.right.left.*"]}, model)


def test_replacing_a_shared_module_replaces_it_at_every_path():
    model = shared_model()
    replacement = nn.Identity()
    ModuleSlots(model).set("b", replacement)
    assert model.a is replacement and model.b is replacement
    assert model.c is not replacement


def test_quanto_on_every_module_keeps_a_shared_module_shared():
    pytest.importorskip("optimum.quanto")
    from optimum.quanto import QLinear

    from smashconfig import smash

    model = shared_model()
    cfg = SmashConfig({"quanto": {"target_modules": {"include": ["*"]}}})
    smash(model, cfg)
    assert model.a is model.b
    assert isinstance(model.a, QLinear) and isinstance(model.c, QLinear)


def test_quanto_through_the_second_path_only_quantizes_the_shared_module():
    pytest.importorskip("optimum.quanto")
    from optimum.quanto import QLinear

    from smashconfig import smash

    model = shared_model()
    smash(model, SmashConfig({"quanto": {"target_modules": {"include": ["b"]}}}))
    assert model.a is model.b and isinstance(model.b, QLinear)
    assert not isinstance(model.c, QLinear)


def test_a_model_that_is_not_a_model_is_refused():
    with pytest.raises(TypeError) as caught:
        expand_list_of_targeted_paths({"include": ["*"]}, 5)
    assert isinstance(caught.value, SmashConfigError) and "int" in str(caught.value)


# --------------------------------------------------------------------------- A: target_modules values


@pytest.mark.parametrize(
    "value, builtin, named",
    [
        ({"include": [5]}, TypeError, "include"),
        ({"include": [""]}, ValueError, "include"),
        ({"include": []}, ValueError, "include"),
        ({"inclued": ["*"]}, ValueError, "inclued"),
        ({"include": [b"*"]}, TypeError, "include"),
        ({"include": [None]}, TypeError, "include"),
        ("*", TypeError, "target_modules"),
    ],
)
def test_bad_target_modules_are_refused_and_left_untouched(value, builtin, named):
    kept = copy.deepcopy(value)
    with pytest.raises(builtin) as caught:
        expand_list_of_targeted_paths(value, blocks(1, 1))
    assert isinstance(caught.value, (TargetModulesError, SmashConfigError))
    assert named in str(caught.value)
    assert value == kept


# --------------------------------------------------------------------------- B: YAML and files


ALIAS_BOMB = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]",
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]",
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]",
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]",
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]",
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]",
        "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]",
        "quanto_weight_bits: [*h,*h,*h,*h,*h,*h,*h,*h,*h]",
    ]
)


def test_an_alias_bomb_is_refused_before_it_expands(deadline):
    assert len(ALIAS_BOMB) < 600
    with deadline(10), pytest.raises(ConfigFileError) as caught:
        SmashConfig.from_yaml(ALIAS_BOMB)
    assert isinstance(caught.value, ValueError)
    assert "alias" in str(caught.value) and "<yaml text>:" in str(caught.value)


def test_an_alias_bomb_under_one_key_does_not_hang_validate(tmp_path, deadline):
    path = tmp_path / "bomb.yaml"
    path.write_text("quanto:\n  weight_bits: &x [" + ",".join(["0"] * 50) + "]\n" + ALIAS_BOMB.split("\n", 1)[1] + "\n")
    from smashconfig.cli import main

    with deadline(20):
        assert main(["validate", str(path)]) == 2


def test_aliases_used_reasonably_still_load():
    text = "base: &b {weight_bits: qint4}\nquanto:\n  <<: *b\n"
    with pytest.raises(SmashConfigError):  # 'base' is no config key, but the aliases were read
        SmashConfig.from_yaml(text)
    cfg = SmashConfig.from_yaml("quanto: &q {weight_bits: qint4}\n")
    assert cfg["quanto_weight_bits"] == "qint4"


def test_reading_dev_zero_stops_with_a_clear_error(deadline):
    with deadline(20), pytest.raises(ConfigFileError) as caught:
        SmashConfig.from_yaml("/dev/zero")
    assert "/dev/zero" in str(caught.value) and "MiB" in str(caught.value)


def test_a_huge_file_is_refused_without_reading_it_all(tmp_path, deadline):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as handle:
        handle.truncate(200 * 2**20)  # sparse: 200 MiB of zeros
    with deadline(20), pytest.raises(ConfigFileError) as caught:
        SmashConfig.from_yaml(path)
    assert "huge.yaml" in str(caught.value)
    assert path.stat().st_size == 200 * 2**20


def test_a_nul_byte_in_yaml_is_a_file_error():
    with pytest.raises(ConfigFileError) as caught:
        SmashConfig.from_yaml("quanto:\n  weight_bits: q\x00int8\n")
    assert isinstance(caught.value, ValueError) and "position" in str(caught.value)


def test_a_nul_byte_in_a_yaml_file_names_the_file(tmp_path):
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"quanto:\n  weight_bits: q\x00int8\n")
    with pytest.raises(ConfigFileError) as caught:
        SmashConfig.from_yaml(path)
    assert "nul.yaml" in str(caught.value)


def test_a_five_thousand_digit_integer_is_a_file_error(deadline):
    with deadline(10), pytest.raises(ConfigFileError) as caught:
        SmashConfig.from_yaml("lora:\n  r: " + "9" * 5000 + "\n")
    assert ":2:" in str(caught.value) and "5000" in str(caught.value)
    assert len(str(caught.value)) < 300


def test_a_five_thousand_digit_integer_in_python_is_a_short_value_error():
    cfg = SmashConfig().add("lora")
    with pytest.raises(ValueError) as caught:
        cfg["lora_r"] = 10**5000
    assert isinstance(caught.value, SmashConfigError) and "lora_r" in str(caught.value)
    assert len(str(caught.value)) < 500
    assert cfg["lora_r"] == 8


@pytest.mark.parametrize("depth", [150, 50000])
def test_deep_nesting_is_a_file_error(depth, deadline):
    with deadline(30), pytest.raises(ConfigFileError) as caught:
        SmashConfig.from_yaml("quanto: " + "[" * depth + "]" * depth + "\n")
    assert "nested" in str(caught.value) and not isinstance(caught.value, RecursionError)


def test_a_deeply_nested_python_value_is_refused_without_recursion_error():
    value: list = []
    for _ in range(50000):
        value = [value]
    cfg = SmashConfig().add("quanto")
    with pytest.raises(SmashConfigError) as caught:
        cfg["quanto_target_modules"] = {"include": value}
    assert "quanto_target_modules" in str(caught.value)
    assert cfg["quanto_target_modules"] is None


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_an_os_error(tmp_path):
    path = tmp_path / "secret.yaml"
    path.write_text("quanto: {}\n")
    path.chmod(0)
    with pytest.raises(ConfigFileAccessError) as caught:
        SmashConfig.from_yaml(path)
    assert isinstance(caught.value, OSError) and "secret.yaml" in str(caught.value)


def test_a_read_that_fails_is_an_os_error_naming_the_file(tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    path.write_text("quanto: {}\n")
    real_open = open

    def refusing_open(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refusing_open)
    with pytest.raises(ConfigFileAccessError) as caught:
        SmashConfig.from_yaml(path)
    assert isinstance(caught.value, OSError) and "config.yaml" in str(caught.value) and "Permission" in str(caught.value)


@pytest.mark.parametrize("as_path", [True, False])
def test_an_over_long_path_is_one_clear_error(as_path):
    name = "/tmp/" + "x" * 5000 + ".yaml"
    with pytest.raises(OSError) as caught:
        SmashConfig.from_yaml(Path(name) if as_path else name)
    assert isinstance(caught.value, SmashConfigError)
    assert "xxxx" in str(caught.value) and len(str(caught.value)) < 600


def test_a_directory_is_not_a_config(tmp_path):
    with pytest.raises(ConfigFileError) as caught:
        SmashConfig.from_yaml(tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(ConfigFileNotFoundError) as caught:
        SmashConfig.from_yaml(tmp_path / "missing.yaml")
    assert isinstance(caught.value, FileNotFoundError) and "missing.yaml" in str(caught.value)


def test_writing_a_config_to_a_directory_is_an_os_error(tmp_path):
    cfg = SmashConfig().add("quanto")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ConfigFileAccessError) as caught:
        cfg.to_yaml(tmp_path)
    assert isinstance(caught.value, OSError) and str(tmp_path) in str(caught.value)
    assert sorted(os.listdir(tmp_path)) == before
    with pytest.raises(ConfigFileAccessError):
        cfg.to_json("/tmp")


def test_writing_a_config_under_a_missing_folder_is_an_os_error(tmp_path):
    with pytest.raises(ConfigFileAccessError) as caught:
        SmashConfig().add("lora").to_yaml(tmp_path / "no" / "such" / "c.yaml")
    assert "c.yaml" in str(caught.value)
    assert not (tmp_path / "no").exists()


def test_two_merge_keys_in_one_mapping_are_refused():
    text = "quanto:\n  <<: {weight_bits: qint4}\n  <<: {weight_bits: qint8}\n"
    with pytest.raises(ConfigFileError) as caught:
        SmashConfig.from_yaml(text)
    assert ":3:" in str(caught.value) and "'<<'" in str(caught.value)


def test_two_merges_bringing_one_key_are_refused():
    text = "a: &a {weight_bits: qint4}\nb: &b {weight_bits: qint8}\nquanto:\n  <<: [*a, *b]\n"
    with pytest.raises(ConfigFileError) as caught:
        SmashConfig.from_yaml(text)
    assert "weight_bits" in str(caught.value) and "two merges" in str(caught.value)


def test_a_key_written_twice_is_refused():
    with pytest.raises(ConfigFileError) as caught:
        SmashConfig.from_yaml("quanto:\n  weight_bits: qint4\n  weight_bits: qint8\n")
    assert "weight_bits" in str(caught.value) and ":3:" in str(caught.value)


def test_an_unsafe_tag_is_refused():
    with pytest.raises(ConfigFileError) as caught:
        SmashConfig.from_yaml("quanto: !!python/object/apply:os.system ['true']\n")
    assert "!!python/object/apply:os.system" in str(caught.value)


# --------------------------------------------------------------------------- B: the Python API


@pytest.mark.parametrize(
    "call, named",
    [
        (lambda cfg: cfg.add(b"lora"), "b'lora'"),
        (lambda cfg: cfg.add(5), "5 (int)"),
        (lambda cfg: cfg.add([b"lora"]), "b'lora'"),
        (lambda cfg: cfg.remove(5), "5 (int)"),
        (lambda cfg: cfg.remove([None]), "None"),
        (lambda cfg: cfg.remove(b"quanto"), "b'quanto'"),
        (lambda cfg: cfg.update(5), "5 (int)"),
        (lambda cfg: cfg.update([1, 2]), "[1, 2]"),
        (lambda cfg: cfg.update("quanto"), "'quanto'"),
    ],
    ids=["add-bytes", "add-int", "add-list-of-bytes", "remove-int", "remove-none", "remove-bytes", "update-int", "update-list", "update-str"],
)
def test_wrong_types_in_the_api_are_refused_and_change_nothing(call, named):
    cfg = SmashConfig().add("quanto")
    cfg["quanto_weight_bits"] = "qint4"
    before = cfg.to_dict()
    with pytest.raises((TypeError, KeyError, ValueError)) as caught:
        call(cfg)
    assert isinstance(caught.value, SmashConfigError)
    assert named in str(caught.value)
    assert "108" not in str(caught.value)
    assert cfg.to_dict() == before


def test_a_megabyte_value_is_cut_in_the_message():
    cfg = SmashConfig().add("quanto")
    with pytest.raises(ValueError) as caught:
        cfg["quanto_weight_bits"] = "q" * 10**6
    message = str(caught.value)
    assert "quanto_weight_bits" in message and "qint8" in message
    assert len(message) < 1000
    assert cfg["quanto_weight_bits"] == "qint8"


def test_a_megabyte_key_is_cut_in_the_message():
    cfg = SmashConfig()
    with pytest.raises(KeyError) as caught:
        cfg["k" * 10**6] = 1
    assert isinstance(caught.value, SmashConfigError) and len(str(caught.value)) < 3000


def test_describe_never_renders_a_huge_value_whole(deadline):
    value: list = ["x"]
    for _ in range(30):  # 2**30 leaves if rendered whole
        value = [value, value]
    with deadline(5):
        text = describe(value)
    assert len(text) < 200 and text.endswith("(list)")
    assert describe(10**5000).startswith("<an integer of about 5000 digits>")


def test_from_dict_with_a_huge_value_is_cut(deadline):
    with deadline(10), pytest.raises(SmashConfigError) as caught:
        SmashConfig.from_dict({"quanto": {"weight_bits": ["x" * 1000] * 1000}})
    assert "weight_bits" in str(caught.value) and len(str(caught.value)) < 1000


# --------------------------------------------------------------------------- B: the command line


def run_cli(*args: str, stdin: str = "") -> "subprocess.CompletedProcess[str]":
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "smashconfig", *args], capture_output=True, text=True, input=stdin, timeout=120
    )


def test_cli_closed_pipe_exits_quietly(tmp_path):
    import subprocess

    config = tmp_path / "c.yaml"
    config.write_text("quanto:\n  weight_bits: qint8\nlora:\n  r: 4\n")
    done = subprocess.run(
        f"{sys.executable} -m smashconfig validate {config} {config} {config} | head -c 1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


@pytest.mark.parametrize(
    "content, expected",
    [
        (ALIAS_BOMB, "alias"),
        ("quanto:\n  weight_bits: \x00\n", "position"),
        ("lora:\n  r: " + "9" * 5000 + "\n", "5000"),
        ("quanto: " + "[" * 50000 + "]" * 50000 + "\n", "nested"),
    ],
    ids=["alias-bomb", "nul", "huge-int", "deep"],
)
def test_cli_hostile_files_print_one_line_and_exit_2(tmp_path, content, expected):
    config = tmp_path / "hostile.yaml"
    config.write_text(content)
    done = run_cli("validate", str(config))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert expected in done.stderr and "hostile.yaml" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cli_dev_zero_exits_2():
    done = run_cli("validate", "/dev/zero")
    assert done.returncode == 2 and "/dev/zero" in done.stderr and "Traceback" not in done.stderr


def test_cli_over_long_path_exits_2():
    done = run_cli("validate", "/tmp/" + "y" * 5000 + ".yaml")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr) < 1000
