"""Final labels: one value per unit (step, turn field, candidate pair, item) from many.

Order of trust: an adjudicated label > Dawid–Skene (when the project has enough overlap to
estimate annotator confusion matrices) > majority vote. Every final label carries its
`source` and a `confidence` (the Dawid–Skene posterior or the vote share; 1.0 for an
adjudication). Consensus auto-labels (model consensus from a labeling job) are votes only
when the caller includes them, which it does only when the project allows it, and a final
label that rests on one is marked `+consensus`.

Pure: no ORM. The exporters fit an `Aggregator` once per field from the long-format ratings
the agreement selector builds, then ask it for each unit while streaming. The estimators
themselves (majority vote, Dawid–Skene) are at the end of this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from annotation.agreement import NAN, FloatArray, IntArray

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
        classes: npt.ArrayLike,
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
        errors = self.errors
        known = errors is not None and all(v.annotator in self.worker_index for v in votes)
        if known and errors is not None and np.isin(values, self.classes).all():
            post = dawid_skene_posterior(
                [self.worker_index[v.annotator] for v in votes],
                np.searchsorted(self.classes, values),
                errors=errors,
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


# --- aggregation: majority vote and Dawid–Skene -------------------------------------------


@dataclass(slots=True)
class Aggregate:
    """Per-unit results: `labels[u]` a class index (-1 when the unit has no rating),
    `confidence[u]` the posterior (or vote share) of that class, `probas` (n_units × K)."""

    labels: IntArray
    confidence: FloatArray
    probas: FloatArray
    # Dawid–Skene only: (n_workers × K observed × K true) confusion matrices and priors.
    errors: FloatArray | None = None
    priors: FloatArray | None = None
    n_iter: int = 0
    loss_history: list[float] = field(default_factory=list)


def _vote_counts(tasks: IntArray, labels: IntArray, n_tasks: int, n_classes: int) -> FloatArray:
    counts = np.zeros((n_tasks, n_classes))
    np.add.at(counts, (tasks, labels), 1.0)
    return counts


def majority_vote(
    tasks: npt.ArrayLike, labels: npt.ArrayLike, *, n_tasks: int, n_classes: int
) -> Aggregate:
    """Majority vote over long-format observations (task index, class index).

    Ties go to the lowest class index; `confidence` is the winning vote share.
    """
    t = np.asarray(tasks, dtype=np.int64)
    lab = np.asarray(labels, dtype=np.int64)
    counts = _vote_counts(t, lab, n_tasks, n_classes)
    total = counts.sum(axis=1, keepdims=True)
    probas = np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)
    winner = probas.argmax(axis=1)
    has = total[:, 0] > 0
    conf = np.where(has, probas[np.arange(n_tasks), winner], NAN)
    return Aggregate(np.where(has, winner, -1), conf, probas)


_DS_EPS = 1e-10


def dawid_skene(
    tasks: npt.ArrayLike,
    workers: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    n_tasks: int,
    n_workers: int,
    n_classes: int,
    n_iter: int = 100,
    tol: float = 1e-5,
) -> Aggregate:
    """Dawid–Skene EM over per-worker confusion matrices (long-format observations).

    Follows crowd-kit's `DawidSkene` step for step, so the two agree to rounding: start
    from majority-vote posteriors; M-step errors[w, observed, true] = Σ posteriors of the
    tasks where w gave `observed` (clipped at 1e-10 for observed pairs, normalised per true
    class); E-step in log space; stop when the per-observation ELBO gains less than `tol`.
    Tasks without observations get label -1 and a uniform row.
    """
    t = np.asarray(tasks, dtype=np.int64)
    w = np.asarray(workers, dtype=np.int64)
    lab = np.asarray(labels, dtype=np.int64)
    k = n_classes
    if len(t) == 0:
        return Aggregate(
            np.full(n_tasks, -1), np.full(n_tasks, NAN), np.full((n_tasks, k), 1.0 / max(k, 1))
        )
    rated = np.zeros(n_tasks, dtype=bool)
    rated[t] = True
    # Only tasks with observations take part (as in crowd-kit, which never sees the rest).
    task_ids = np.flatnonzero(rated)
    remap = np.full(n_tasks, -1)
    remap[task_ids] = np.arange(len(task_ids))
    tt = remap[t]
    nt = len(task_ids)
    observed_pair = np.zeros((n_workers, k), dtype=bool)
    observed_pair[w, lab] = True

    counts = _vote_counts(tt, lab, nt, k)
    probas = counts / counts.sum(axis=1, keepdims=True)

    def m_step(p: FloatArray) -> FloatArray:
        err = np.zeros((n_workers, k, k))
        np.add.at(err, (w, lab), p[tt])
        err = np.where(observed_pair[:, :, None], np.maximum(err, _DS_EPS), 0.0)
        sums = err.sum(axis=1, keepdims=True)
        return np.divide(err, sums, out=np.zeros_like(err), where=sums > 0)

    def e_step(pri: FloatArray, err: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore"):
            log_err = np.log(err[w, lab])  # (n_obs, K)
        ll = np.zeros((nt, k))
        np.add.at(ll, tt, log_err)
        ll += np.log(np.maximum(pri, _DS_EPS))
        ll -= ll.max(axis=1, keepdims=True)
        p = np.exp(ll)
        return p / p.sum(axis=1, keepdims=True)

    def elbo(p: FloatArray, pri: FloatArray, err: FloatArray) -> float:
        with np.errstate(divide="ignore"):
            log_err = np.log(err[w, lab]) + np.log(np.maximum(pri, _DS_EPS))
        pt = p[tt]
        joint = float(np.where(pt > 0, pt * log_err, 0.0).sum())
        pc = np.maximum(p, _DS_EPS)
        entropy = float(-(np.log(pc) * pc).sum())
        return joint + entropy

    priors = probas.mean(axis=0)
    errors = m_step(probas)
    loss = -np.inf
    history: list[float] = []
    it = 0
    for it in range(1, n_iter + 1):  # noqa: B007 - `it` is reported
        probas = e_step(priors, errors)
        priors = probas.mean(axis=0)
        errors = m_step(probas)
        new_loss = elbo(probas, priors, errors) / len(t)
        # crowd-kit clips the posteriors in place while computing the bound.
        probas = np.maximum(probas, _DS_EPS)
        history.append(new_loss)
        if new_loss - loss < tol:
            break
        loss = new_loss
    full = np.full((n_tasks, k), 1.0 / k)
    full[task_ids] = probas
    winner = full.argmax(axis=1)
    conf = np.where(rated, full[np.arange(n_tasks), winner], NAN)
    return Aggregate(
        np.where(rated, winner, -1),
        conf,
        full,
        errors=errors,
        priors=priors,
        n_iter=it,
        loss_history=history,
    )


def dawid_skene_posterior(
    workers: npt.ArrayLike, labels: npt.ArrayLike, *, errors: FloatArray, priors: FloatArray
) -> FloatArray:
    """Posterior over classes for one task from fitted parameters (streaming use: fit once
    on all observations, then score each task as it is written)."""
    w = np.asarray(workers, dtype=np.int64)
    lab = np.asarray(labels, dtype=np.int64)
    with np.errstate(divide="ignore"):
        ll = np.log(np.maximum(priors, _DS_EPS)) + np.log(errors[w, lab]).sum(axis=0)
    ll -= ll.max()
    p = np.exp(ll)
    return p / p.sum()


def most_similar_triple(values: Sequence[int]) -> list[int]:
    """HelpSteer2's rule: the three ratings with the smallest range (ties: smallest
    variance, then first in order); all of them when there are three or fewer."""
    vals = list(values)
    if len(vals) <= 3:
        return vals
    best: tuple[float, float, tuple[int, ...]] | None = None
    n = len(vals)
    for i in range(n):
        for j in range(i + 1, n):
            for k in range(j + 1, n):
                trio = (vals[i], vals[j], vals[k])
                key = (max(trio) - min(trio), float(np.var(trio)), (i, j, k))
                if best is None or key[:2] < best[:2]:
                    best = key
    return [vals[i] for i in best[2]] if best else vals


def rounded_mean(values: Sequence[float]) -> int:
    """Mean rounded half away from zero (HelpSteer2's aggregate of the closest three)."""
    m = float(np.mean(values))
    return int(np.sign(m) * np.floor(abs(m) + 0.5))
