"""Old id -> new id, per model, while a backup is restored.

Rows are restored in the order of their old ids and get increasing new ids, so each map is
monotone; it is kept as runs (old start, new start, length). A project imported in bulk has
a handful of runs per table whatever its size, so memory stays flat; interleaved ids (rows
of several projects created in turn) only make more runs.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right

from annotation.errors import ApplicationError


class IdMap:
    __slots__ = ("_lengths", "_new", "_old")

    def __init__(self) -> None:
        self._old = array("q")
        self._new = array("q")
        self._lengths = array("q")

    def add(self, old: int, new: int) -> None:
        if self._old:
            last_old = self._old[-1] + self._lengths[-1] - 1
            if old <= last_old:
                raise ApplicationError(
                    f"rows out of id order (id {old} after {last_old})", code="invalid_backup"
                )
            if old == last_old + 1 and new == self._new[-1] + self._lengths[-1]:
                self._lengths[-1] += 1
                return
        self._old.append(old)
        self._new.append(new)
        self._lengths.append(1)

    def get(self, old: int) -> int | None:
        k = bisect_right(self._old, old) - 1
        if k < 0:
            return None
        offset = old - self._old[k]
        return self._new[k] + offset if offset < self._lengths[k] else None

    @property
    def runs(self) -> int:
        return len(self._old)

    def __len__(self) -> int:
        return sum(self._lengths)


class IdMaps:
    """The maps of every model restored so far, by model label."""

    def __init__(self) -> None:
        self._maps: dict[str, IdMap] = {}

    def map(self, label: str) -> IdMap:
        found = self._maps.get(label)
        if found is None:
            found = self._maps[label] = IdMap()
        return found

    def has(self, label: str) -> bool:
        return label in self._maps

    def get(self, label: str, old: int) -> int | None:
        found = self._maps.get(label)
        return found.get(old) if found is not None else None

    def require(self, label: str, old: int) -> int:
        new = self.get(label, old)
        if new is None:
            raise ApplicationError(
                f"refers to {label} id {old}, which is not in the backup", code="invalid_backup"
            )
        return new

    def runs(self) -> dict[str, int]:
        return {label: m.runs for label, m in self._maps.items()}
