"""Results moved into room reserved before a step's temporaries, and free heap memory given back
only when a step has grown well beyond what it keeps."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from smashconfig import SmashConfig, smash
from smashconfig.apply import memory
from smashconfig.apply.memory import FreeMemoryReleaser
from smashconfig.apply.reserved import ReservedResults, inner_tensors, layout_of

import models

MIB = 1024 * 1024


def frozen_quanto_weight(bits: str = "qint8"):
    import optimum.quanto as oq

    qmodule = oq.quantize_module(nn.Linear(16, 8), weights=getattr(oq, bits))
    with torch.no_grad():
        qmodule.freeze()
    return qmodule.weight


def test_settle_moves_each_plain_inner_tensor_into_its_room_keeping_the_values():
    weight = frozen_quanto_weight()
    before = {name: t.clone() for name, t in inner_tensors(weight).items()}
    expected = weight.dequantize()
    reserved = ReservedResults([{name: layout_of(t) for name, t in inner_tensors(weight).items()}])
    rooms = dict(reserved._rooms[0])

    moved = reserved.settle(0, weight)

    assert moved == sum(t.nbytes for t in before.values())
    for name, value in before.items():
        inner = getattr(weight, name)
        assert inner.data_ptr() == rooms[name].data_ptr() and torch.equal(inner, value)
    assert torch.equal(weight.dequantize(), expected)  # the subclass reads its parts from their rooms


def test_a_result_laid_out_otherwise_than_reserved_stays_where_it_is():
    weight = frozen_quanto_weight()
    data = weight._data
    layouts = {"_data": ((4, 4), (4, 1), torch.int8, torch.device("cpu"))}  # not the 8x16 it has

    assert ReservedResults([layouts]).settle(0, weight) == 0
    assert weight._data is data


def test_room_is_reserved_on_the_cpu_only():
    layouts = {"_data": ((8, 16), (16, 1), torch.int8, torch.device("meta"))}

    assert ReservedResults([layouts]).settle(0, frozen_quanto_weight()) == 0


@pytest.mark.parametrize("bits", ["qint8", "qfloat8"])
def test_quanto_moves_every_layers_weight_into_reserved_room_and_equals_quanto_called_directly(monkeypatch, bits):
    import optimum.quanto as oq

    moved = []
    settle = ReservedResults.settle
    monkeypatch.setattr(ReservedResults, "settle", lambda self, k, result: moved.append(settle(self, k, result)) or moved[-1])
    model = models.tiny_llama()
    direct = copy.deepcopy(model)

    smash(model, SmashConfig({"quanto": {"weight_bits": bits}}))
    with torch.no_grad():
        oq.quantize(direct, weights=getattr(oq, bits), exclude=["lm_head"])
        oq.freeze(direct)

    acted = model.smash_plan.steps[0].acted
    parts = [inner_tensors(model.get_submodule(path).weight) for path in acted]
    assert moved == [sum(t.nbytes for t in p.values()) for p in parts] and all(moved)
    ids = torch.randint(0, 100, (2, 8))
    assert torch.equal(model(ids).logits, direct(ids).logits)


def test_a_step_that_fails_after_settling_restores_the_originals(monkeypatch):
    from smash_models import assert_unchanged, capture
    from smashconfig.errors import SmashError

    model = models.tiny_llama()
    before = capture(model)
    settle = ReservedResults.settle
    calls = []

    def failing(self, k, result):
        calls.append(k)
        if len(calls) == 3:
            raise RuntimeError("out of memory")
        return settle(self, k, result)

    monkeypatch.setattr(ReservedResults, "settle", failing)
    with pytest.raises(SmashError, match="out of memory"):
        smash(model, SmashConfig(["quanto"]))
    assert_unchanged(model, before)


class Resident:
    """A resident set the test moves by hand (``memory.resident_bytes``), and the releases it sees."""

    def __init__(self, monkeypatch) -> None:
        self.now = 1000 * MIB
        self.released = 0
        monkeypatch.setattr(memory, "resident_bytes", lambda: self.now)
        monkeypatch.setattr(memory, "_malloc_trim", lambda: (lambda pad: None))
        monkeypatch.setattr(memory, "release_free_memory", self.release)

    def release(self) -> None:
        self.released += 1
        self.now -= 40 * MIB  # what giving back the holes returns


def test_free_memory_is_given_back_only_past_the_slack(monkeypatch):
    resident = Resident(monkeypatch)
    releaser = FreeMemoryReleaser(slack_bytes=64 * MIB, check_every_bytes=4 * MIB)

    resident.now += 60 * MIB
    releaser.processed(4 * MIB)
    assert resident.released == 0  # within the slack
    resident.now += 10 * MIB
    releaser.processed(2 * MIB)
    assert resident.released == 0  # not looked at before 4 MiB more are processed
    releaser.processed(2 * MIB)
    assert resident.released == 1 and releaser.releases == 1


def test_after_a_release_the_slack_counts_from_what_it_left(monkeypatch):
    resident = Resident(monkeypatch)
    releaser = FreeMemoryReleaser(slack_bytes=64 * MIB, check_every_bytes=1)
    resident.now += 100 * MIB
    releaser.processed(1)  # 100 MiB grown: released, 60 MiB left
    assert resident.released == 1

    resident.now += 50 * MIB
    releaser.processed(1)  # 110 MiB: within 60 + 64
    assert resident.released == 1
    resident.now += 20 * MIB
    releaser.processed(1)
    assert resident.released == 2


def test_what_a_step_keeps_is_not_counted_as_growth(monkeypatch):
    resident = Resident(monkeypatch)
    releaser = FreeMemoryReleaser(slack_bytes=8 * MIB, check_every_bytes=1)

    resident.now += 32 * MIB
    releaser.processed(1, kept=30 * MIB)
    assert resident.released == 0
    resident.now += 8 * MIB
    releaser.processed(1)
    assert resident.released == 1


def test_without_glibc_or_proc_nothing_is_released(monkeypatch):
    monkeypatch.setattr(memory, "resident_bytes", lambda: None)
    monkeypatch.setattr(memory, "release_free_memory", lambda: pytest.fail("released"))
    releaser = FreeMemoryReleaser(slack_bytes=0, check_every_bytes=1)

    releaser.processed(1 << 30)
    assert releaser.releases == 0


def test_the_resident_set_is_read_or_none():
    resident = memory.resident_bytes()
    assert resident is None or resident > MIB
