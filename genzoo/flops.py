"""Floating-point operations of a block of torch code, counted per aten operator with the
formulas of ``torch.utils.flop_counter`` (what ``FlopCounterMode`` sums), without its module
tracking, whose backward hooks ``torch.autograd.grad`` refuses: Langevin chains take gradients
with respect to their inputs inside the counted block."""

from __future__ import annotations

from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry


class CountFlops(TorchDispatchMode):
    """``with CountFlops() as c: ...`` then ``c.total``: the operations the block ran."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += int(count(*args, **kwargs, out_val=out))
        return out


def flops_of(fn, *args, **kwargs) -> tuple[int, object]:
    """``(operations, result)`` of ``fn(*args, **kwargs)``."""
    with CountFlops() as counter:
        result = fn(*args, **kwargs)
    return counter.total, result
