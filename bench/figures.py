"""One measured figure, printed as `name value unit [baseline value] ratio`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None  # the baseline's value in the same unit, same run
    baseline_name: str | None = None
    note: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    def line(self) -> str:
        parts = [self.name, _fmt(self.value), self.unit]
        if self.baseline is not None:
            parts += [
                f"[{self.baseline_name or 'baseline'} {_fmt(self.baseline)}]",
                f"ratio {self.ratio:.2f}" if self.ratio is not None else "ratio -",
            ]
        if self.note:
            parts.append(f"({self.note})")
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def _fmt(x: float) -> str:
    if x == 0 or 0.01 <= abs(x) < 1e6:
        return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"
    return f"{x:.3e}"


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Seconds of the fastest of `repeat` runs (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def smoke() -> bool:
    """`python -m bench --smoke`: the smallest sizes, for the test that keeps the benchmarks
    from rotting (figures are meaningless at these sizes)."""
    import os

    return os.environ.get("BENCH_SMOKE") == "1"


def size(full: int, quick: int, is_quick: bool, smoke_size: int | None = None) -> int:
    if smoke():
        return smoke_size if smoke_size is not None else max(1, quick // 20)
    return quick if is_quick else full
