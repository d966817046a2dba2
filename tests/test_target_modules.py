from __future__ import annotations

import copy
import typing
import warnings

import pytest
from torch import nn

from smashconfig.errors import (
    ModelTypeError,
    NoTargetsError,
    TargetModulesError,
    TargetModulesTypeError,
    TargetPatternWarning,
)
from smashconfig.target_modules import (
    TARGET_MODULES_TYPE,
    expand_list_of_targeted_paths,
    normalize_target_modules,
)


def expand(target_modules, model):
    with warnings.catch_warnings():
        warnings.simplefilter("error", TargetPatternWarning)
        return expand_list_of_targeted_paths(target_modules, model)


def tree(**children: nn.Module) -> nn.Module:
    root = nn.Module()
    for name, child in children.items():
        root.add_module(name, child)
    return root


@pytest.fixture
def attention_model():
    return tree(
        attention=tree(query=nn.Linear(2, 2), key=nn.Linear(2, 2)),
        attention_norm=nn.LayerNorm(2),
        mlp=tree(fc=nn.Linear(2, 2)),
    )


def test_target_modules_type():
    assert typing.get_origin(TARGET_MODULES_TYPE) is dict
    key, value = typing.get_args(TARGET_MODULES_TYPE)
    assert set(typing.get_args(key)) == {"include", "exclude"}
    assert typing.get_args(value) == (str,)


# ----- the dot rule and glob syntax -----------------------------------------------------------


def test_dot_rule_selects_the_module_itself(attention_model):
    assert expand({"include": ["attention.*"]}, attention_model) == ["attention", "attention.query", "attention.key"]


def test_dot_rule_does_not_select_a_sibling_with_the_same_prefix(attention_model):
    assert "attention_norm" not in expand({"include": ["attention.*"]}, attention_model)


def test_exact_path_selects_only_that_module(attention_model):
    assert expand({"include": ["attention"]}, attention_model) == ["attention"]


def test_star_crosses_dots(tiny_llama):
    assert expand({"include": ["model.*_proj"]}, tiny_llama) == [
        f"model.layers.{i}.{part}"
        for i in range(2)
        for part in (
            "self_attn.q_proj",
            "self_attn.k_proj",
            "self_attn.v_proj",
            "self_attn.o_proj",
            "mlp.gate_proj",
            "mlp.up_proj",
            "mlp.down_proj",
        )
    ]


def test_star_alone_selects_everything_but_the_root(tiny_llama):
    assert expand({"include": ["*"]}, tiny_llama) == [name for name, _ in tiny_llama.named_modules() if name]


def test_question_mark_is_one_character(tiny_llama):
    assert expand({"include": ["model.layers.?.mlp"]}, tiny_llama) == ["model.layers.0.mlp", "model.layers.1.mlp"]
    with pytest.raises(NoTargetsError):
        expand({"include": ["model.layers.??.mlp"]}, tiny_llama)


def test_question_mark_matches_a_dot(attention_model):
    assert expand({"include": ["attention?query"]}, attention_model) == ["attention.query"]


def test_character_set(tiny_llama):
    assert expand({"include": ["*.[qk]_proj"]}, tiny_llama) == [
        "model.layers.0.self_attn.q_proj",
        "model.layers.0.self_attn.k_proj",
        "model.layers.1.self_attn.q_proj",
        "model.layers.1.self_attn.k_proj",
    ]


def test_character_range(tiny_llama):
    assert expand({"include": ["model.layers.[0-0].mlp.up_proj"]}, tiny_llama) == ["model.layers.0.mlp.up_proj"]


def test_negated_character_set(tiny_llama):
    assert expand({"include": ["*self_attn.[!qk]_proj"]}, tiny_llama) == [
        "model.layers.0.self_attn.v_proj",
        "model.layers.0.self_attn.o_proj",
        "model.layers.1.self_attn.v_proj",
        "model.layers.1.self_attn.o_proj",
    ]


def test_matching_is_case_sensitive():
    model = tree(Attn=nn.Linear(2, 2), attn=nn.Linear(2, 2))
    assert expand({"include": ["attn"]}, model) == ["attn"]
    assert expand({"include": ["A*"]}, model) == ["Attn"]


def test_pattern_must_match_the_whole_path(tiny_llama):
    with pytest.warns(TargetPatternWarning):
        paths = expand_list_of_targeted_paths({"include": ["*q_proj", "self_attn"]}, tiny_llama)
    assert paths == ["model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj"]
    with pytest.raises(NoTargetsError):
        expand({"include": ["layers"]}, tiny_llama)
    with pytest.raises(NoTargetsError):
        expand({"include": ["model.layers.0.self_att"]}, tiny_llama)


def test_unclosed_bracket_is_a_literal():
    model = tree(a=nn.Linear(2, 2))
    model.add_module("b[1", nn.Linear(2, 2))
    assert expand({"include": ["b[1"]}, model) == ["b[1"]


# ----- include and exclude --------------------------------------------------------------------


def test_exclude_removes_included_modules(tiny_llama):
    assert expand({"include": ["*.self_attn.*"], "exclude": ["*.self_attn", "*[qk]_proj"]}, tiny_llama) == [
        "model.layers.0.self_attn.v_proj",
        "model.layers.0.self_attn.o_proj",
        "model.layers.1.self_attn.v_proj",
        "model.layers.1.self_attn.o_proj",
    ]


def test_exclude_uses_the_dot_rule(tiny_llama):
    paths = expand({"include": ["model.layers.*"], "exclude": ["model.layers.0.*", "*.mlp.*"]}, tiny_llama)
    assert not any(p.startswith("model.layers.0") for p in paths)
    assert not any(".mlp" in p for p in paths)
    assert "model.layers.1.self_attn" in paths


def test_missing_include_means_everything(tiny_llama):
    everything = [name for name, _ in tiny_llama.named_modules() if name]
    assert expand({"exclude": ["lm_head"]}, tiny_llama) == [p for p in everything if p != "lm_head"]
    assert expand({}, tiny_llama) == everything


def test_missing_exclude_means_nothing_excluded(sequential):
    assert expand({"include": ["*"]}, sequential) == ["0", "1", "2"]


def test_normal_form_fills_missing_keys():
    assert normalize_target_modules({}) == {"include": ["*"], "exclude": []}
    assert normalize_target_modules({"include": ["a"]}) == {"include": ["a"], "exclude": []}
    assert normalize_target_modules({"exclude": ["b"]}) == {"include": ["*"], "exclude": ["b"]}
    assert normalize_target_modules(None) is None


def test_single_string_is_a_one_item_list(tiny_llama):
    assert normalize_target_modules({"include": "a.*", "exclude": "b"}) == {"include": ["a.*"], "exclude": ["b"]}
    assert expand({"include": "*.q_proj", "exclude": "model.layers.1.*"}, tiny_llama) == [
        "model.layers.0.self_attn.q_proj"
    ]


def test_the_users_dict_is_never_modified(tiny_llama):
    given = {"include": "model.layers.*"}
    nested = {"include": ["*.mlp.*"], "exclude": ["*down_proj"]}
    snapshots = copy.deepcopy((given, nested))
    expand(given, tiny_llama)
    expand(nested, tiny_llama)
    normalize_target_modules(given)
    normalized = normalize_target_modules(nested)
    normalized["include"].append("x")
    assert (given, nested) == snapshots


@pytest.mark.parametrize(
    "value, error",
    [
        (["*"], TargetModulesTypeError),
        ("*", TargetModulesTypeError),
        ({"include": ["*"], "only": ["x"]}, TargetModulesError),
        ({"include": [1]}, TargetModulesTypeError),
        ({"include": [""]}, TargetModulesError),
        ({"include": []}, TargetModulesError),
        ({"exclude": 3}, TargetModulesTypeError),
    ],
)
def test_invalid_target_modules_are_refused_when_expanding(sequential, value, error):
    with pytest.raises(error):
        expand_list_of_targeted_paths(value, sequential)


# ----- paths ----------------------------------------------------------------------------------


def test_paths_in_named_modules_order(tiny_bert):
    expected = [
        name
        for name, module in tiny_bert.named_modules()
        if name and (isinstance(module, nn.Linear) or name.endswith("LayerNorm"))
    ]
    assert expand({"include": ["*dense", "*query", "*key", "*value", "*LayerNorm"]}, tiny_bert) == expected


def test_include_order_does_not_change_the_result_order(tiny_llama):
    assert expand({"include": ["*v_proj", "*q_proj"]}, tiny_llama) == [
        "model.layers.0.self_attn.q_proj",
        "model.layers.0.self_attn.v_proj",
        "model.layers.1.self_attn.q_proj",
        "model.layers.1.self_attn.v_proj",
    ]


def test_root_is_never_listed(sequential):
    assert "" not in expand({"include": ["*"]}, sequential)
    with pytest.raises(NoTargetsError):
        expand({"include": ["*"]}, nn.Linear(2, 2))


def test_shared_module_is_listed_once():
    shared = nn.Linear(2, 2)
    model = tree(first=shared, block=nn.Sequential(nn.ReLU(), shared), second=shared)
    assert expand({"include": ["*"]}, model) == ["first", "block", "block.0"]
    # shared: targeted when any of its paths is (block.1 and second are paths of first), listed at its first path
    assert expand({"include": ["block.*"]}, model) == ["first", "block", "block.0"]
    assert expand({"include": ["second"]}, model) == ["first"]
    assert expand({"include": ["*"], "exclude": ["first", "block.1"]}, model) == ["first", "block", "block.0"]
    assert expand({"include": ["*"], "exclude": ["first", "block", "block.1", "second"]}, model) == ["block.0"]


def test_tied_head_is_listed(tiny_llama_tied):
    assert expand({"include": ["lm_head"]}, tiny_llama_tied) == ["lm_head"]


def test_pipeline_components_are_prefixed(pipeline):
    paths = expand({"include": ["*"]}, pipeline)
    assert paths[:3] == ["transformer", "transformer.proj_in", "transformer.blocks"]
    assert "transformer.blocks.0" in paths
    assert "transformer.blocks.0.attn" in paths
    assert "transformer.proj_out" in paths
    assert "text_encoder.fc" in paths
    assert "vae.encoder" in paths
    expected = []
    for component in ("transformer", "text_encoder", "vae"):
        expected += [".".join(p for p in (component, name) if p) for name, _ in getattr(pipeline, component).named_modules()]
    assert paths == expected


def test_pipeline_component_selected_with_the_dot_rule(pipeline):
    paths = expand({"include": ["transformer.*"], "exclude": ["*norm"]}, pipeline)
    assert paths[0] == "transformer"
    assert all(p == "transformer" or p.startswith("transformer.") for p in paths)
    assert "transformer.blocks.1.norm" not in paths


def test_pipeline_component_shared_under_two_names_is_listed_once(pipeline):
    pipeline.denoiser = pipeline.transformer
    paths = expand({"include": ["*"]}, pipeline)
    assert not any(p.startswith("denoiser") for p in paths)
    assert len(paths) == len(set(paths))


def test_object_without_modules_is_refused():
    with pytest.raises(ModelTypeError) as info:
        expand({"include": ["*"]}, object())
    assert isinstance(info.value, TypeError)


def test_documented_example_on_smollm(smollm_meta):
    target_modules = {"include": ["model.layers.[01].*attn.*"], "exclude": ["*v_proj"]}
    assert expand(target_modules, smollm_meta) == [
        "model.layers.0.self_attn",
        "model.layers.0.self_attn.q_proj",
        "model.layers.0.self_attn.k_proj",
        "model.layers.0.self_attn.o_proj",
        "model.layers.1.self_attn",
        "model.layers.1.self_attn.q_proj",
        "model.layers.1.self_attn.k_proj",
        "model.layers.1.self_attn.o_proj",
    ]


def test_numbered_siblings_on_smollm(smollm_meta):
    paths = expand({"include": ["model.layers.1*.mlp"]}, smollm_meta)
    assert paths == ["model.layers.1.mlp"] + [f"model.layers.{i}.mlp" for i in range(10, 20)]


# ----- warnings -------------------------------------------------------------------------------


def test_include_pattern_that_matched_nothing_warns(tiny_llama):
    with pytest.warns(TargetPatternWarning) as record:
        paths = expand_list_of_targeted_paths({"include": ["*q_proj", "*qproj"]}, tiny_llama)
    assert paths == ["model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj"]
    messages = [str(w.message) for w in record]
    assert len(messages) == 1
    assert "'*qproj'" in messages[0]
    assert "include" in messages[0]
    assert "'*q_proj'" not in messages[0]


def test_exclude_pattern_that_matched_nothing_warns(tiny_llama):
    with pytest.warns(TargetPatternWarning) as record:
        paths = expand_list_of_targeted_paths({"include": ["*q_proj"], "exclude": ["*.lm_head"]}, tiny_llama)
    assert paths == ["model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj"]
    messages = [str(w.message) for w in record]
    assert len(messages) == 1
    assert "'*.lm_head'" in messages[0]
    assert "exclude" in messages[0]


def test_pattern_with_a_set_starting_with_a_bracket_is_not_reported_as_matching_nothing():
    model = tree(ba=nn.Linear(2, 2), bb=nn.Linear(2, 2))
    assert expand({"include": ["*[]a]"]}, model) == ["ba"]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert expand_list_of_targeted_paths({"include": ["*a", "*[]a]"]}, model) == ["ba"]
    assert not [w for w in record if "'*[]a]'" in str(w.message)]


def test_patterns_that_all_matched_do_not_warn(tiny_llama):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expand_list_of_targeted_paths({"include": ["*q_proj", "*k_proj"], "exclude": ["model.layers.1.*"]}, tiny_llama)


# ----- nothing matched ------------------------------------------------------------------------


def test_no_match_error_repeats_the_patterns_and_suggests_real_paths(tiny_llama):
    with pytest.raises(NoTargetsError) as info:
        expand({"include": ["model.layers.*.attn.q_proj"]}, tiny_llama)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert "'model.layers.*.attn.q_proj'" in message
    assert "model.layers.0.self_attn.q_proj" in message


def test_no_match_error_for_everything_excluded_names_the_exclude(tiny_llama):
    with pytest.raises(NoTargetsError) as info:
        expand({"include": ["*q_proj"], "exclude": ["model.*"]}, tiny_llama)
    message = str(info.value)
    assert "'*q_proj'" in message
    assert "'model.*'" in message


def test_no_match_hint_for_a_regex(tiny_llama):
    with pytest.raises(NoTargetsError) as info:
        expand({"include": [r"model\.layers\.\d+\.self_attn"]}, tiny_llama)
    message = str(info.value)
    assert "regular expression" in message
    assert "glob" in message
    assert "model.layers.0.self_attn" in message


def test_no_match_hint_for_a_regex_alternation(tiny_llama):
    with pytest.raises(NoTargetsError) as info:
        expand({"include": ["model.layers.*.self_attn.(q|k)_proj"]}, tiny_llama)
    assert "regular expression" in str(info.value)


def test_no_match_hint_for_a_bare_name(tiny_llama):
    with pytest.raises(NoTargetsError) as info:
        expand({"include": ["q_proj"]}, tiny_llama)
    message = str(info.value)
    assert "'q_proj'" in message
    assert "'*.q_proj'" in message
    assert "whole path" in message


def test_no_match_hint_for_the_wrong_case(tiny_llama):
    with pytest.raises(NoTargetsError) as info:
        expand({"include": ["Model.Layers.*"]}, tiny_llama)
    message = str(info.value)
    assert "case" in message
    assert "'Model.Layers.*'" in message


def test_no_match_for_the_wrong_case_suggests_the_paths_meant(tiny_llama):
    with pytest.raises(NoTargetsError) as info:
        expand({"include": ["*Q_PROJ"]}, tiny_llama)
    message = str(info.value)
    assert "case" in message
    assert "model.layers.0.self_attn.q_proj" in message


def test_warning_for_a_bare_name_in_exclude_gives_the_hint(tiny_llama):
    with pytest.warns(TargetPatternWarning) as record:
        expand_list_of_targeted_paths({"include": ["*_proj"], "exclude": ["q_proj"]}, tiny_llama)
    assert "'*.q_proj'" in str(record[0].message)


def test_no_match_on_a_model_without_submodules():
    with pytest.raises(NoTargetsError) as info:
        expand({"include": ["*"]}, nn.ReLU())
    assert "'*'" in str(info.value)


def test_module_slots_replace_modules_and_forget_parents_inside_a_replaced_one():
    from smashconfig.target_modules.tree import ModuleSlots

    model = nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), nn.Linear(2, 2))
    slots = ModuleSlots(model)
    assert slots.get("0.1") is model[0][1]
    new_leaf = nn.Linear(2, 2)
    slots.set("0.1", new_leaf)
    assert model[0][1] is new_leaf
    block = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    slots.set("0", block)
    assert slots.get("0.1") is block[1]
    slots.set("1", new_leaf)
    assert model[1] is new_leaf
