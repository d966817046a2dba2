"""Room for a step's results, reserved before the step makes its first temporary.

A step that keeps every original layer alive (so that a failure can restore it) builds each
quantized tensor from float temporaries of a weight's size. Where the allocator carves a small,
long-lived result out of a freed temporary, the hole beside it is too small for the next layer's
temporaries, and the process grows by about a float weight per layer. Reserving every result's
room first, then moving each result into its room as soon as it is made, hands the temporaries
back whole: the next layer reuses them, and the step holds little more than the originals and
the results, without giving pages back to the system and faulting them in again.

Only CPU tensors are reserved for (a GPU's caching allocator reuses freed blocks by size).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

if TYPE_CHECKING:
    import torch

Layout = Tuple[Tuple[int, ...], Tuple[int, ...], "torch.dtype", "torch.device"]
"""(shape, strides, dtype, device) of a plain tensor."""


def layout_of(tensor: "torch.Tensor") -> Layout:
    return tuple(tensor.shape), tuple(tensor.stride()), tensor.dtype, tensor.device


def inner_tensors(tensor: Any) -> Dict[str, Any]:
    """A tensor subclass's inner tensors by attribute name (``__tensor_flatten__``); none for a plain tensor."""
    flatten = getattr(tensor, "__tensor_flatten__", None)
    return {name: getattr(tensor, name) for name in flatten()[0]} if flatten is not None else {}


class ReservedResults:
    """One slot per unit of work (a layer), each holding room for the inner tensors of its result."""

    def __init__(self, slots: Sequence[Mapping[str, Layout]]) -> None:
        import torch

        self._rooms: List[Optional[Dict[str, "torch.Tensor"]]] = [
            {
                name: torch.empty_strided(shape, stride, dtype=dtype, device=device)
                for name, (shape, stride, dtype, device) in slot.items()
                if device.type == "cpu"
            }
            for slot in slots
        ]

    def settle(self, k: int, result: Any) -> int:
        """Move the inner tensors of slot ``k``'s ``result`` (a tensor subclass, its inner tensors named
        as in ``__tensor_flatten__``) into their rooms; an inner tensor that is not a plain tensor laid out
        as reserved stays where it is. Returns the bytes moved."""
        import torch

        rooms, self._rooms[k] = self._rooms[k], None
        moved = 0
        for name, room in (rooms or {}).items():
            tensor = getattr(result, name, None)
            if type(tensor) is torch.Tensor and _same_layout(tensor, room):
                room.copy_(tensor)
                setattr(result, name, room)  # the attribute the subclass is rebuilt from: its tensor is freed whole
                moved += room.nbytes
        return moved


def _same_layout(a: "torch.Tensor", b: "torch.Tensor") -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.device == b.device and a.stride() == b.stride()
