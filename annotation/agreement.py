"""Agreement statistics: pure NumPy functions over plain arrays (aggregation — majority
vote, Dawid–Skene — is in `annotation.aggregation`).

No ORM here: `annotation.selectors.agreement` builds the inputs. The conventions:

- A *reliability matrix* has shape (n_raters, n_units), float, `np.nan` = missing (the
  orientation of the `krippendorff` package). Values are numeric codes; for nominal data
  any numbers will do, for ordinal/interval data they must carry the order/distance.
- Undefined statistics (one value overall, no unit with two ratings, a constant rater) are
  `nan`, never an exception: a dashboard shows "undefined" instead of crashing.

Every function here is cross-checked in the tests against `krippendorff`, statsmodels,
scikit-learn and crowd-kit on random data (to 1e-9) and on textbook examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Level = Literal["nominal", "ordinal", "interval", "ratio"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NAN = float("nan")


# --- building blocks -----------------------------------------------------------------------


def value_domain_of(data: npt.ArrayLike, value_domain: npt.ArrayLike | None = None) -> FloatArray:
    """The sorted distinct values of `data` (ignoring nan), or `value_domain` as floats."""
    if value_domain is not None:
        return np.asarray(value_domain, dtype=np.float64)
    arr = np.asarray(data, dtype=np.float64)
    return np.unique(arr[~np.isnan(arr)])


def value_counts(data: npt.ArrayLike, value_domain: npt.ArrayLike | None = None) -> IntArray:
    """(n_units, n_values) counts of raters giving each value to each unit.

    Raises ValueError when `data` holds a value outside `value_domain`.
    """
    arr = np.asarray(data, dtype=np.float64)
    domain = value_domain_of(arr, value_domain)
    n_raters, n_units = arr.shape if arr.ndim == 2 else (0, 0)
    counts = np.zeros((n_units, len(domain)), dtype=np.int64)
    if arr.size == 0 or len(domain) == 0:
        return counts
    present = ~np.isnan(arr)
    units = np.broadcast_to(np.arange(n_units), arr.shape)[present]
    vals = arr[present]
    idx = np.searchsorted(domain, vals)
    idx_c = np.clip(idx, 0, len(domain) - 1)
    if not np.all(domain[idx_c] == vals):
        raise ValueError("data holds values outside the value domain")
    np.add.at(counts, (units, idx_c), 1)
    return counts


def _distance_matrix(domain: FloatArray, level: Level, n_v: FloatArray) -> FloatArray:
    v1, v2 = domain[:, None], domain[None, :]
    if level == "nominal":
        return (v1 != v2).astype(np.float64)
    if level == "interval":
        return (v1 - v2) ** 2
    if level == "ratio":
        s = v1 + v2
        return np.divide(v1 - v2, s, out=np.zeros((len(domain), len(domain))), where=s != 0) ** 2
    if level == "ordinal":
        # δ(c,k) = (Σ_{g=c..k} n_g − (n_c + n_k)/2)², over the ordered domain.
        cum = np.concatenate([[0.0], np.cumsum(n_v)])
        i = np.arange(len(domain))
        lo, hi = np.minimum(i[:, None], i[None, :]), np.maximum(i[:, None], i[None, :])
        between = cum[hi + 1] - cum[lo]
        return (between - (n_v[lo] + n_v[hi]) / 2.0) ** 2
    raise ValueError(f"level: unknown level of measurement {level!r}")


def _alpha_from_counts(counts: FloatArray, domain: FloatArray, level: Level) -> float:
    m = counts.sum(axis=1)
    keep = m >= 2
    if not keep.any() or len(domain) < 2:
        return NAN
    c = counts[keep]
    mk = m[keep]
    # Coincidence matrix o[c,k] = Σ_u (n_uc n_uk − δ_ck n_uc) / (m_u − 1).
    w = 1.0 / (mk - 1.0)
    o = (c * w[:, None]).T @ c
    o[np.diag_indices_from(o)] -= (c * w[:, None]).sum(axis=0)
    n_v = o.sum(axis=0)
    n = n_v.sum()
    if n <= 1:
        return NAN
    e = (np.outer(n_v, n_v) - np.diag(n_v)) / (n - 1.0)
    d = _distance_matrix(domain, level, n_v)
    de = float((e * d).sum())
    if de == 0.0:
        return NAN
    return 1.0 - float((o * d).sum()) / de


# --- Krippendorff's alpha --------------------------------------------------------------------


def krippendorff_alpha(
    data: npt.ArrayLike,
    level: Level = "nominal",
    value_domain: Sequence[float] | None = None,
) -> float:
    """Krippendorff's α for a (raters × units) matrix with nan for missing ratings.

    Any number of raters; units with fewer than two ratings add nothing. Pass
    `value_domain` (ordered) for ordinal scales so unused categories still count in the
    ordinal distance. Returns nan when α is undefined (no unit with two ratings, or a single
    value overall, so that expected disagreement is zero).
    """
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError("data: must be a 2-d (raters × units) array")
    domain = value_domain_of(arr, value_domain)
    counts = value_counts(arr, domain).astype(np.float64)
    return _alpha_from_counts(counts, domain, level)


def leave_one_out_alpha(
    data: npt.ArrayLike,
    level: Level = "nominal",
    value_domain: Sequence[float] | None = None,
) -> FloatArray:
    """α of the other raters with each rater left out, one value per rater (row).

    A rater whose removal raises α disagrees with the others; `alpha_all - loo[j]` is rater
    j's contribution (negative = lowers agreement). Computed from one count table by
    subtracting each rater's own ratings, so it costs one pass per rater over the counts.
    """
    arr = np.asarray(data, dtype=np.float64)
    domain = value_domain_of(arr, value_domain)
    counts = value_counts(arr, domain).astype(np.float64)
    out = np.full(arr.shape[0], NAN)
    for j in range(arr.shape[0]):
        own = value_counts(arr[j : j + 1], domain).astype(np.float64)
        out[j] = _alpha_from_counts(counts - own, domain, level)
    return out


# --- Fleiss' kappa ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FleissResult:
    kappa: float
    n_units: int
    raters_per_unit: int | None
    # Why kappa is nan, in words, e.g. "raters per item differ (2 to 3)".
    reason: str = ""


def fleiss_kappa(data: npt.ArrayLike, value_domain: Sequence[float] | None = None) -> FleissResult:
    """Fleiss' κ over the units rated at least twice; every such unit must have the same
    number of ratings (statsmodels' `fleiss_kappa(method="fleiss")` on the same table).

    When the number differs between units the result is nan with the reason
    "raters per item differ (a to b)": use Krippendorff's α for such data.
    """
    arr = np.asarray(data, dtype=np.float64)
    domain = value_domain_of(arr, value_domain)
    return _fleiss_from_counts(value_counts(arr, domain).astype(np.float64))


# --- Cohen's kappa -------------------------------------------------------------------------


def cohen_kappa(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    weights: Literal["linear", "quadratic"] | None = None,
    labels: Sequence[float] | None = None,
) -> float:
    """Cohen's κ of two raters over the units both rated (nan in either is dropped).

    Same definition as scikit-learn's `cohen_kappa_score`: weights use the distance between
    label *indexes* in `labels` (default: the sorted union of both raters' values). nan when
    undefined (e.g. both raters constant on the same value, or fewer than one shared unit).
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    both = ~(np.isnan(x) | np.isnan(y))
    x, y = x[both], y[both]
    if len(x) == 0:
        return NAN
    domain = np.asarray(labels, dtype=np.float64) if labels is not None else np.union1d(x, y)
    k = len(domain)
    ix, iy = np.searchsorted(domain, x), np.searchsorted(domain, y)
    ok = (ix < k) & (iy < k)
    ok[ok] &= (domain[ix[ok]] == x[ok]) & (domain[iy[ok]] == y[ok])
    ix, iy = ix[ok], iy[ok]
    if len(ix) == 0:
        return NAN
    conf = np.zeros((k, k))
    np.add.at(conf, (ix, iy), 1.0)
    expected = np.outer(conf.sum(axis=1), conf.sum(axis=0)) / conf.sum()
    grid = np.arange(k)
    if weights is None:
        w = 1.0 - np.eye(k)
    elif weights == "linear":
        w = np.abs(grid[:, None] - grid[None, :]).astype(np.float64)
    elif weights == "quadratic":
        w = ((grid[:, None] - grid[None, :]) ** 2).astype(np.float64)
    else:
        raise ValueError(f"weights: must be None, linear or quadratic, got {weights!r}")
    denom = float((w * expected).sum())
    if denom == 0.0:
        return NAN
    return 1.0 - float((w * conf).sum()) / denom


def pairwise_cohen_kappa(
    data: npt.ArrayLike,
    *,
    weights: Literal["linear", "quadratic"] | None = None,
    labels: Sequence[float] | None = None,
    min_overlap: int = 1,
) -> FloatArray:
    """(n_raters × n_raters) matrix of Cohen's κ for every pair of raters (symmetric;
    the diagonal is 1). A pair with fewer than `min_overlap` shared units gets nan.

    `labels` fixes the label set for every pair (recommended with weights, so the index
    distance is the same for all pairs).
    """
    arr = np.asarray(data, dtype=np.float64)
    r = arr.shape[0]
    out = np.full((r, r), NAN)
    for i in range(r):
        out[i, i] = 1.0
        for j in range(i + 1, r):
            shared = int((~np.isnan(arr[i]) & ~np.isnan(arr[j])).sum())
            if shared >= max(min_overlap, 1):
                out[i, j] = out[j, i] = cohen_kappa(arr[i], arr[j], weights=weights, labels=labels)
    return out


# --- raw agreement -------------------------------------------------------------------------


def percent_agreement(data: npt.ArrayLike) -> float:
    """Mean over units rated at least twice of the share of agreeing rater pairs."""
    arr = np.asarray(data, dtype=np.float64)
    counts = value_counts(arr).astype(np.float64)
    m = counts.sum(axis=1)
    keep = m >= 2
    if not keep.any():
        return NAN
    agree = (counts[keep] * (counts[keep] - 1)).sum(axis=1)
    return float((agree / (m[keep] * (m[keep] - 1))).mean())


@dataclass(frozen=True, slots=True)
class FirstErrorAgreement:
    exact: float
    within_one: float
    n_pairs: int
    n_units: int


def first_error_agreement(data: npt.ArrayLike) -> FirstErrorAgreement:
    """Pairwise agreement on the first-error index (−1 = no error), over rater pairs that
    both labelled a unit: exact match, and match within ±1 step. "No error" (−1) is only
    within one step of itself, never of step 0.
    """
    arr = np.asarray(data, dtype=np.float64)
    exact = near = pairs = 0
    units = 0
    r = arr.shape[0]
    for i in range(r):
        for j in range(i + 1, r):
            both = ~(np.isnan(arr[i]) | np.isnan(arr[j]))
            x, y = arr[i][both], arr[j][both]
            pairs += len(x)
            exact += int((x == y).sum())
            close = np.where((x < 0) | (y < 0), x == y, np.abs(x - y) <= 1)
            near += int(close.sum())
    units = int(((~np.isnan(arr)).sum(axis=0) >= 2).sum())
    if pairs == 0:
        return FirstErrorAgreement(NAN, NAN, 0, units)
    return FirstErrorAgreement(exact / pairs, near / pairs, pairs, units)


def position_bias_rate(chose_left: npt.ArrayLike) -> tuple[float, int, float]:
    """Share of non-tie preference judgements that picked the candidate shown on the left,
    with n and a two-sided z-score against 0.5 (|z| > 2: likely a position bias).

    `chose_left` is a boolean array over judgements (ties already removed).
    """
    x = np.asarray(chose_left, dtype=bool)
    n = len(x)
    if n == 0:
        return NAN, 0, NAN
    rate = float(x.mean())
    z = (rate - 0.5) / (0.5 / np.sqrt(n))
    return rate, n, float(z)


def confusion_matrix(a: npt.ArrayLike, b: npt.ArrayLike, labels: Sequence[float]) -> IntArray:
    """Counts of (a value, b value) over units both rated; rows a, columns b."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    both = ~(np.isnan(x) | np.isnan(y))
    dom = np.asarray(labels, dtype=np.float64)
    ix, iy = np.searchsorted(dom, x[both]), np.searchsorted(dom, y[both])
    k = len(dom)
    ok = (ix < k) & (iy < k)
    out = np.zeros((k, k), dtype=np.int64)
    np.add.at(out, (ix[ok], iy[ok]), 1)
    return out


# --- long-format ratings (what the selector builds) ----------------------------------------


@dataclass(slots=True)
class LongRatings:
    """One rating per row: unit index, rater index, numeric value.

    The dense (raters × units) matrix of a big project does not fit in memory (50 raters ×
    600,000 steps), so the statistics below work from counts and from per-rater columns.
    """

    unit: IntArray
    rater: IntArray
    value: FloatArray
    n_units: int
    n_raters: int

    @classmethod
    def build(cls, unit: npt.ArrayLike, rater: npt.ArrayLike, value: npt.ArrayLike) -> LongRatings:
        """From arbitrary unit and rater keys (already integers) to dense indexes."""
        u_keys, u_idx = np.unique(np.asarray(unit, dtype=np.int64), return_inverse=True)
        r_keys, r_idx = np.unique(np.asarray(rater, dtype=np.int64), return_inverse=True)
        return cls(
            u_idx.astype(np.int64).reshape(-1),
            r_idx.astype(np.int64).reshape(-1),
            np.asarray(value, dtype=np.float64).reshape(-1),
            len(u_keys),
            len(r_keys),
        )

    def matrix(self) -> FloatArray:
        """The dense (raters × units) matrix, nan for missing; for small data and tests."""
        m = np.full((self.n_raters, self.n_units), NAN)
        m[self.rater, self.unit] = self.value
        return m

    def counts(self, domain: FloatArray, rows: npt.NDArray[np.bool_] | None = None) -> FloatArray:
        sel = slice(None) if rows is None else rows
        idx = np.searchsorted(domain, self.value[sel])
        out = np.zeros((self.n_units, len(domain)))
        np.add.at(out, (self.unit[sel], idx), 1.0)
        return out


def alpha_long(
    r: LongRatings, level: Level = "nominal", value_domain: Sequence[float] | None = None
) -> float:
    domain = value_domain_of(r.value, value_domain)
    return _alpha_from_counts(r.counts(domain), domain, level)


def field_agreement(
    r: LongRatings,
    *,
    level: Level,
    value_domain: Sequence[float] | None = None,
    kappa_weights: Literal["linear", "quadratic"] | None = None,
) -> dict[str, Any]:
    """Every statistic of one label field, JSON-ready (nan becomes None).

    Keys: n_units (rated at least twice), n_ratings, n_raters, alpha, percent_agreement,
    fleiss (kappa + reason), cohen_pairwise (matrix over raters, indexes as `r.rater`),
    loo_alpha (per rater), ratings_per_rater.
    """
    domain = value_domain_of(r.value, value_domain)
    counts = r.counts(domain)
    m = counts.sum(axis=1)
    multi = m >= 2
    alpha = _alpha_from_counts(counts, domain, level)
    if multi.any():
        agree = (counts[multi] * (counts[multi] - 1)).sum(axis=1)
        pct = float((agree / (m[multi] * (m[multi] - 1))).mean())
    else:
        pct = NAN
    fl = _fleiss_from_counts(counts)
    loo = np.full(r.n_raters, NAN)
    for j in range(r.n_raters):
        own = r.counts(domain, r.rater == j)
        loo[j] = _alpha_from_counts(counts - own, domain, level)
    cols = _rater_columns(r)
    kappa = np.full((r.n_raters, r.n_raters), NAN)
    for i in range(r.n_raters):
        kappa[i, i] = 1.0
        for j in range(i + 1, r.n_raters):
            ui, vi = cols[i]
            uj, vj = cols[j]
            _, ii, jj = np.intersect1d(ui, uj, return_indices=True)
            if len(ii):
                kappa[i, j] = kappa[j, i] = cohen_kappa(
                    vi[ii], vj[jj], weights=kappa_weights, labels=list(domain)
                )
    return {
        "n_units": int(multi.sum()),
        "n_units_total": int(r.n_units),
        "n_ratings": int(len(r.value)),
        "n_raters": int(r.n_raters),
        "alpha": json_float(alpha),
        "percent_agreement": json_float(pct),
        "fleiss_kappa": json_float(fl.kappa),
        "fleiss_note": fl.reason,
        "cohen_pairwise": [[json_float(x) for x in row] for row in kappa],
        "loo_alpha": [json_float(x) for x in loo],
        "ratings_per_rater": np.bincount(r.rater, minlength=r.n_raters).tolist(),
    }


def _fleiss_from_counts(counts: FloatArray) -> FleissResult:
    m = counts.sum(axis=1)
    c = counts[m >= 2]
    m = m[m >= 2]
    if len(m) == 0:
        return FleissResult(NAN, 0, None, "no item has two ratings")
    if m.min() != m.max():
        return FleissResult(
            NAN,
            len(m),
            None,
            f"raters per item differ ({int(m.min())} to {int(m.max())}); "
            "Fleiss' kappa needs the same number on every item, use Krippendorff's alpha",
        )
    n = m[0]
    p_j = c.sum(axis=0) / (len(m) * n)
    p_i = ((c**2).sum(axis=1) - n) / (n * (n - 1))
    p_e = (p_j**2).sum()
    if p_e == 1.0:
        return FleissResult(NAN, len(m), int(n), "a single category overall")
    return FleissResult(float((p_i.mean() - p_e) / (1 - p_e)), len(m), int(n))


def coincidence_matrix(r: LongRatings, domain: npt.ArrayLike) -> FloatArray:
    """Krippendorff's coincidence matrix: pooled pairs of values given to the same unit by
    different raters (symmetric; the "confusion matrix" between any two raters)."""
    dom = np.asarray(domain, dtype=np.float64)
    counts = r.counts(dom)
    m = counts.sum(axis=1)
    keep = m >= 2
    c, mk = counts[keep], m[keep]
    if len(mk) == 0:
        return np.zeros((len(dom), len(dom)))
    w = 1.0 / (mk - 1.0)
    o = (c * w[:, None]).T @ c
    o[np.diag_indices_from(o)] -= (c * w[:, None]).sum(axis=0)
    return o


def json_float(x: float | None) -> float | None:
    """A finite float rounded to 6 places, or None (JSON has no nan)."""
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def _rater_columns(r: LongRatings) -> list[tuple[IntArray, FloatArray]]:
    order = np.lexsort((r.unit, r.rater))
    rater, unit, value = r.rater[order], r.unit[order], r.value[order]
    bounds = np.searchsorted(rater, np.arange(r.n_raters + 1))
    return [
        (unit[bounds[j] : bounds[j + 1]], value[bounds[j] : bounds[j + 1]])
        for j in range(r.n_raters)
    ]


def first_error_agreement_long(r: LongRatings) -> FirstErrorAgreement:
    """`first_error_agreement` on long-format ratings (no dense matrix)."""
    cols = _rater_columns(r)
    exact = near = pairs = 0
    for i in range(r.n_raters):
        for j in range(i + 1, r.n_raters):
            _, ii, jj = np.intersect1d(cols[i][0], cols[j][0], return_indices=True)
            x, y = cols[i][1][ii], cols[j][1][jj]
            pairs += len(x)
            exact += int((x == y).sum())
            near += int(np.where((x < 0) | (y < 0), x == y, np.abs(x - y) <= 1).sum())
    units = int((np.bincount(r.unit, minlength=r.n_units) >= 2).sum())
    if pairs == 0:
        return FirstErrorAgreement(NAN, NAN, 0, units)
    return FirstErrorAgreement(exact / pairs, near / pairs, pairs, units)
