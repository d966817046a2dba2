from __future__ import annotations

import re
import warnings
from typing import List, Set

from hypothesis import given, settings
from hypothesis import strategies as st

from smashconfig.cli import models as demo_models
from smashconfig.cli import main
from smashconfig.errors import TargetPatternWarning
from smashconfig.target_modules import explain_targets
from smashconfig.target_modules.fold import fold

from explain_models import demo, llama_without_v_proj, meta_llama

ROW = re.compile(r"^  (\S+)\s+(\d+)  (.+)$")
WRAPPED = re.compile(r"^  \S+$")
COUNT_ONLY = re.compile(r"^\s+(\d+)  (.+)$")
PIECE = re.compile(r"\[([0-9,\-]+)\]|\{([^{}]*)\}")


def expand(text: str) -> Set[str]:
    """Every path a folded line stands for: ``[0-2,5]`` index ranges and ``{a,b}`` sets, multiplied out."""
    found = PIECE.search(text)
    if found is None:
        return {text}
    if found.group(1) is not None:
        options: List[str] = []
        for span in found.group(1).split(","):
            low, _, high = span.partition("-")
            options.extend(str(n) for n in range(int(low), int(high or low) + 1))
    else:
        options = found.group(2).split(",")
    head, tail = text[: found.start()], text[found.end() :]
    return set().union(*(expand(head + option + tail) for option in options))


def rows(rendering: str):
    """``(folded, count, outcome)`` per row; a label too long for its column sits on the line above."""
    found, label = [], None
    for line in rendering.splitlines()[2:]:
        if WRAPPED.match(line):
            label = line.strip()
        elif label is not None:
            count, outcome = COUNT_ONLY.match(line).groups()
            found.append((label, count, outcome))
            label = None
        elif ROW.match(line):
            found.append(ROW.match(line).groups())
    return found


def quiet_explain(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", TargetPatternWarning)
        return explain_targets(*args, **kwargs)


# ----- fold ----------------------------------------------------------------------------------------------


def test_consecutive_blocks_fold_into_one_range():
    paths = [f"model.layers.{i}.mlp" for i in range(30)]

    assert fold(paths) == [("model.layers.[0-29].mlp", 30, "model.layers.0.mlp")]


def test_gaps_are_kept_in_the_range():
    paths = [f"model.layers.{i}.mlp" for i in [*range(10), *range(30, 100)]]

    assert fold(paths) == [("model.layers.[0-9,30-99].mlp", 80, "model.layers.0.mlp")]


def test_a_single_block_keeps_its_number():
    assert fold(["model.layers.3.mlp.up_proj"]) == [("model.layers.3.mlp.up_proj", 1, "model.layers.3.mlp.up_proj")]


def test_siblings_in_the_same_blocks_share_a_brace_set():
    paths = [f"model.layers.{i}.self_attn.{p}_proj" for i in range(4) for p in "qko"]

    assert fold(paths) == [("model.layers.[0-3].self_attn.{q,k,o}_proj", 12, "model.layers.0.self_attn.q_proj")]


def test_siblings_in_different_blocks_stay_apart():
    paths = [f"model.layers.{i}.self_attn.q_proj" for i in range(4)] + ["model.layers.0.self_attn.k_proj"]

    folded = fold(paths)

    assert ("model.layers.[0-3].self_attn.q_proj", 4, "model.layers.0.self_attn.q_proj") in folded
    assert ("model.layers.0.self_attn.k_proj", 1, "model.layers.0.self_attn.k_proj") in folded


def test_nested_blocks_of_different_lengths_are_not_folded_into_a_wider_range():
    paths = [f"model.layers.0.experts.{j}" for j in range(4)] + [f"model.layers.1.experts.{j}" for j in range(2)]

    for text, count, _ in fold(paths):
        assert len(expand(text)) == count, f"{text!r} reads as {len(expand(text))} paths but stands for {count}"
    assert set().union(*(expand(text) for text, _, _ in fold(paths))) == set(paths)


SEGMENT = st.sampled_from(["model", "layers", "self_attn", "mlp", "q_proj", "k_proj", "up_proj", "fc1", "fc2", "b"])
PATH = st.lists(st.one_of(SEGMENT, st.integers(0, 12).map(str)), min_size=1, max_size=5).map(".".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(PATH, min_size=1, max_size=40, unique=True))
def test_every_folded_line_reads_as_exactly_the_paths_it_counts(paths):
    folded = fold(paths)

    assert sum(count for _, count, _ in folded) == len(paths)
    seen: Set[str] = set()
    for text, count, first in folded:
        stands_for = expand(text)
        assert len(stands_for) == count, (text, count)
        assert first in stands_for
        assert not stands_for & seen
        seen |= stands_for
    assert seen == set(paths)


def test_lines_come_in_order_of_first_appearance():
    paths = ["b.0.x", "a.0.y", "b.1.x", "a.1.y"]

    assert [first for _, _, first in fold(paths)] == ["b.0.x", "a.0.y"]


# ----- the rendering -----------------------------------------------------------------------------------


def test_a_hundred_layer_model_fits_one_screen():
    model = meta_llama(100)
    explanation = quiet_explain({"include": ["*attn*"], "exclude": ["*v_proj"]}, model, "quanto")

    text = explanation.render()

    assert len(text.splitlines()) < 40
    assert str(explanation) == text
    found = {folded: (int(count), outcome) for folded, count, outcome in rows(text)}
    count, outcome = found["model.layers.[0-99].self_attn.{q,k,o}_proj"]
    assert count == 300 and "targeted by" in outcome and "*attn*" in outcome and "acts" in outcome
    count, outcome = found["model.layers.[0-99].self_attn.v_proj"]
    assert count == 100 and "excluded by" in outcome and "*v_proj" in outcome
    assert sum(int(count) for _, count, _ in rows(text)) == len(explanation) == len(list(model.named_modules())) - 1
    assert "1306 modules" in text and "300" in text.splitlines()[1]


def test_the_issue_example_line_on_a_thirty_layer_model(smollm_meta):
    text = quiet_explain({"include": ["*attn*"], "exclude": ["*v_proj"]}, smollm_meta).render()

    line = next(line for line in text.splitlines() if "model.layers.[0-29].self_attn.{q,k,o}_proj" in line)
    assert re.search(r"\s90\s", line)
    assert "targeted by" in line and "*attn*" in line


def test_every_line_stands_for_exactly_its_paths(smollm_meta):
    explanation = quiet_explain({"include": ["model.layers.1?.*"], "exclude": ["*mlp*"]}, smollm_meta, "lora")
    by_path = {record.path: record for record in explanation}

    for folded, count, outcome in rows(explanation.render()):
        paths = expand(folded)
        assert len(paths) == int(count)
        assert paths <= set(by_path)
        assert len({by_path[p].rule for p in paths}) == 1, folded


def test_a_label_wider_than_the_column_gets_a_line_of_its_own(smollm_meta):
    explanation = quiet_explain({"include": ["model.layers.1.*"]}, smollm_meta, "quanto")
    lines = explanation.render().splitlines()

    long = "model.layers.[0,2-29].{self_attn,mlp,input_layernorm,post_attention_layernorm}"
    at = lines.index(f"  {long}")
    count, outcome = COUNT_ONLY.match(lines[at + 1]).groups()
    assert int(count) == 4 * 29 and outcome == "no include pattern matched"
    columns = {line.index(" no include") for line in lines if line.endswith("no include pattern matched")}
    assert len(columns) == 1  # every count and outcome stays in its column
    found = rows(explanation.render())
    assert sum(int(count) for _, count, _ in found) == len(explanation)
    for folded, count, _ in found:
        assert len(expand(folded)) == int(count)


def test_defaults_on_a_hundred_layers_fold_too():
    text = quiet_explain(None, meta_llama(100), "lora").render()

    assert len(text.splitlines()) < 40
    assert any("model.layers.[0-99].self_attn.{q,k,v,o}_proj" in line and "400" in line for line in text.splitlines())
    assert any(line.lstrip().startswith("lm_head") and "output head" in line for line in text.splitlines())


def test_a_block_missing_a_layer_shows_as_a_shorter_range():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetPatternWarning)
        text = explain_targets({"include": ["*proj"]}, llama_without_v_proj(), "quanto").render()

    found = {folded: int(count) for folded, count, _ in rows(text)}
    assert found["model.layers.[0-24].self_attn.v_proj"] == 25
    assert found["model.layers.[0-29].self_attn.{q,k,o}_proj"] == 90
    assert any(line.startswith("warning:") and "model.layers.[25-29]" in line for line in text.splitlines())


def test_the_command_line_folds_a_hundred_layer_model(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(demo_models, "load_model", lambda spec: demo(meta_llama(100)))
    config = tmp_path / "config.yaml"
    config.write_text(
        "quanto:\n  target_modules:\n    include: ['*attn*']\n    exclude: ['*v_proj']\n", encoding="utf-8"
    )

    code = main(["targets", str(config), "--explain"])
    out = capsys.readouterr().out

    assert code == 0
    assert len(out.splitlines()) < 40
    assert "model.layers.[0-99].self_attn.{q,k,o}_proj" in out
