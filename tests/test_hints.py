"""Every hint in an error message proposes something that works when written as proposed."""

from __future__ import annotations

import ast
import re
import warnings

import pytest

from smashconfig import SmashConfig, plan_smash
from smashconfig.errors import TargetModulesTypeError

PROPOSED = re.compile(r"write (\{'include': \[.*?\]\})")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("q_proj", r"model\.layers\.\d\.self_attn\.q_proj"),
        (["q_proj", "v_proj"], r"model\.layers\.\d\.self_attn\.[qv]_proj"),
        ("model.layers.0.*", r"model\.layers\.0\..*"),
    ],
)
def test_the_proposed_target_modules_plan_without_error_or_warning(tiny_llama, value, expected):
    cfg = SmashConfig(["lora"])
    with pytest.raises(TargetModulesTypeError) as info:
        cfg["lora_target_modules"] = value
    proposed = ast.literal_eval(PROPOSED.search(str(info.value)).group(1))

    cfg["lora_target_modules"] = proposed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = plan_smash(tiny_llama, cfg, strict=True)
    (step,) = plan.steps
    assert step.acted and all(re.fullmatch(expected, path) for path in step.acted)


def test_the_hint_for_a_bare_name_also_says_how_to_select_a_component():
    with pytest.raises(TargetModulesTypeError) as info:
        SmashConfig(["quanto"])["quanto_target_modules"] = "transformer"
    assert "'transformer.*'" in str(info.value)
