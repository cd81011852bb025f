"""Final labels: one value per unit (step, turn field, candidate pair, item) from many.

Order of trust: an adjudicated label > Dawid–Skene (when the project has enough overlap to
estimate annotator confusion matrices) > majority vote. Every final label carries its
`source` and a `confidence` (the Dawid–Skene posterior or the vote share; 1.0 for an
adjudication). Consensus auto-labels (model consensus from a labeling job) are votes only
when the caller includes them, which it does only when the project allows it, and a final
label that rests on one is marked `+consensus`.

Pure: no ORM. The exporters fit an `Aggregator` once per field from the long-format ratings
the agreement selector builds, then ask it for each unit while streaming.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from annotation.agreement import dawid_skene, dawid_skene_posterior

# Dawid–Skene needs units rated by two or more annotators to learn anything; with fewer
# than this many it falls back to majority vote.
MIN_OVERLAP_UNITS = 20


@dataclass(frozen=True, slots=True)
class FinalLabel:
    value: float
    source: str  # adjudication | dawid_skene | majority | single (+consensus)
    confidence: float
    n_votes: int


@dataclass(slots=True)
class Vote:
    annotator: int
    value: float
    consensus: bool = False


class Aggregator:
    """Final labels for one field. `classes` is the ordered value domain."""

    def __init__(
        self,
        classes: Sequence[float],
        *,
        errors: np.ndarray | None = None,
        priors: np.ndarray | None = None,
        worker_index: dict[int, int] | None = None,
    ) -> None:
        self.classes = np.asarray(classes, dtype=np.float64)
        self.errors = errors
        self.priors = priors
        self.worker_index = worker_index or {}

    @property
    def uses_dawid_skene(self) -> bool:
        return self.errors is not None

    @classmethod
    def fit(
        cls,
        classes: Sequence[float],
        units: npt.ArrayLike,
        annotators: npt.ArrayLike,
        values: npt.ArrayLike,
        *,
        min_overlap_units: int = MIN_OVERLAP_UNITS,
    ) -> Aggregator:
        """Fit Dawid–Skene on long-format votes when enough units have two or more votes;
        otherwise an aggregator that uses majority vote."""
        dom = np.asarray(classes, dtype=np.float64)
        u = np.asarray(units, dtype=np.int64)
        a = np.asarray(annotators, dtype=np.int64)
        v = np.asarray(values, dtype=np.float64)
        if len(u) == 0:
            return cls(dom)
        u_keys, u_idx = np.unique(u, return_inverse=True)
        per_unit = np.bincount(u_idx, minlength=len(u_keys))
        if int((per_unit >= 2).sum()) < min_overlap_units:
            return cls(dom)
        w_keys, w_idx = np.unique(a, return_inverse=True)
        fitted = dawid_skene(
            u_idx,
            w_idx,
            np.searchsorted(dom, v),
            n_tasks=len(u_keys),
            n_workers=len(w_keys),
            n_classes=len(dom),
        )
        return cls(
            dom,
            errors=fitted.errors,
            priors=fitted.priors,
            worker_index={int(k): i for i, k in enumerate(w_keys)},
        )

    def final(self, votes: Sequence[Vote], adjudicated: float | None = None) -> FinalLabel | None:
        """The final label of one unit, or None when it has neither votes nor adjudication."""
        if adjudicated is not None:
            return FinalLabel(float(adjudicated), "adjudication", 1.0, len(votes))
        if not votes:
            return None
        mark = "+consensus" if any(v.consensus for v in votes) else ""
        if len(votes) == 1:
            return FinalLabel(float(votes[0].value), "single" + mark, 1.0, 1)
        values = [float(v.value) for v in votes]
        known = self.errors is not None and all(v.annotator in self.worker_index for v in votes)
        if known and np.isin(values, self.classes).all():
            post = dawid_skene_posterior(
                [self.worker_index[v.annotator] for v in votes],
                np.searchsorted(self.classes, values),
                errors=self.errors,
                priors=self.priors if self.priors is not None else np.ones(len(self.classes)),
            )
            k = int(post.argmax())
            return FinalLabel(
                float(self.classes[k]), "dawid_skene" + mark, float(post[k]), len(votes)
            )
        # Majority; a tie goes to the smallest value (the confidence, 1/2 or less, shows it).
        tally: dict[float, int] = {}
        for x in values:
            tally[x] = tally.get(x, 0) + 1
        best = max(sorted(tally), key=lambda x: tally[x])
        return FinalLabel(best, "majority" + mark, tally[best] / len(votes), len(votes))
