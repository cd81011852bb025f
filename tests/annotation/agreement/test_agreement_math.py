"""The pure agreement functions against krippendorff, statsmodels, scikit-learn and
crowd-kit on random data (to 1e-9) and on textbook cases."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from annotation import aggregation
from annotation import agreement as ag
from annotation.aggregation import Aggregator, Vote

pytestmark = pytest.mark.filterwarnings("ignore::Warning:crowdkit.*", "ignore::FutureWarning")

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 4 coders × 12 units
# example with missing values: nominal α = 0.743, interval α = 0.849 (the paper's figures).
KRIPP_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
    [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan],
]
# Fleiss (1971): 10 subjects, 14 raters, 5 categories; the textbook κ = 0.210 (Wikipedia).
FLEISS_TABLE = np.array(
    [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]
)  # fmt: skip


def _random(rng: np.random.Generator, raters: int, units: int, values: int, missing: float):
    data = rng.integers(0, values, (raters, units)).astype(float)
    data[rng.random(data.shape) < missing] = np.nan
    return data


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
@pytest.mark.parametrize("seed", range(5))
def test_alpha_matches_krippendorff_package_on_random_data(level, seed):
    rng = np.random.default_rng(seed)
    data = _random(rng, rng.integers(2, 7), rng.integers(10, 200), 5, 0.3) + 1
    domain = [1, 2, 3, 4, 5]
    expected = krippendorff.alpha(
        reliability_data=data, level_of_measurement=level, value_domain=domain
    )
    assert ag.krippendorff_alpha(data, level, domain) == pytest.approx(expected, abs=1e-9)
    r = ag.LongRatings.build(*_long(data))
    assert ag.alpha_long(r, level, domain) == pytest.approx(expected, abs=1e-9)


def _long(data):
    raters, units = np.nonzero(~np.isnan(data))
    return units, raters, data[raters, units]


def test_alpha_textbook_krippendorff_2011():
    assert ag.krippendorff_alpha(KRIPP_2011, "nominal") == pytest.approx(0.743, abs=5e-4)
    assert ag.krippendorff_alpha(KRIPP_2011, "interval") == pytest.approx(0.849, abs=5e-4)


def test_alpha_undefined_cases_are_nan():
    assert math.isnan(ag.krippendorff_alpha([[1, 1, 1], [1, 1, 1]]))
    assert math.isnan(ag.krippendorff_alpha([[1, np.nan], [np.nan, 2]]))


def test_leave_one_out_alpha_matches_recomputing_without_each_rater():
    rng = np.random.default_rng(7)
    data = _random(rng, 4, 60, 3, 0.2)
    loo = ag.leave_one_out_alpha(data, "nominal", [0, 1, 2])
    for j in range(4):
        rest = np.delete(data, j, axis=0)
        expected = krippendorff.alpha(
            reliability_data=rest, level_of_measurement="nominal", value_domain=[0, 1, 2]
        )
        assert loo[j] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_fleiss_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    data = _random(rng, 5, 80, 4, 0.0)
    table, _ = aggregate_raters(data.T.astype(int), n_cat=4)
    assert ag.fleiss_kappa(data, [0, 1, 2, 3]).kappa == pytest.approx(
        sm_fleiss_kappa(table, method="fleiss"), abs=1e-9
    )


def test_fleiss_textbook_table():
    # Expand the count table into raters × subjects.
    rows = []
    for counts in FLEISS_TABLE:
        rows.append(np.repeat(np.arange(5), counts))
    data = np.array(rows, dtype=float).T
    assert ag.fleiss_kappa(data).kappa == pytest.approx(0.20993, abs=1e-5)


def test_fleiss_says_why_when_raters_per_item_differ():
    data = np.array([[0, 1, 1, 0], [0, 1, 0, 0], [np.nan, 1, 1, 0]])
    result = ag.fleiss_kappa(data)
    assert math.isnan(result.kappa)
    assert "raters per item differ (2 to 3)" in result.reason


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize("seed", range(5))
def test_cohen_matches_sklearn(weights, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(-3, 4, 100), rng.integers(-3, 4, 100)
    b[:50] = a[:50]
    labels = list(range(-3, 4))
    assert ag.cohen_kappa(a, b, weights=weights, labels=labels) == pytest.approx(
        cohen_kappa_score(a, b, weights=weights, labels=labels), abs=1e-9
    )
    assert ag.cohen_kappa(a, b, weights=weights) == pytest.approx(
        cohen_kappa_score(a, b, weights=weights), abs=1e-9
    )


def test_cohen_textbook_and_pairwise_matrix():
    # Cohen's classic 2×2: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no → κ = 0.4.
    a = [1] * 25 + [0] * 25
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert ag.cohen_kappa(a, b) == pytest.approx(0.4, abs=1e-12)
    rng = np.random.default_rng(3)
    data = _random(rng, 4, 50, 3, 0.25)
    matrix = ag.pairwise_cohen_kappa(data, labels=[0, 1, 2])
    for i in range(4):
        assert matrix[i, i] == 1.0
        for j in range(i + 1, 4):
            both = ~np.isnan(data[i]) & ~np.isnan(data[j])
            expected = cohen_kappa_score(data[i][both], data[j][both], labels=[0, 1, 2])
            assert matrix[i, j] == pytest.approx(expected, abs=1e-9) == matrix[j, i]
    stats = ag.field_agreement(ag.LongRatings.build(*_long(data)), level="nominal",
                               value_domain=[0, 1, 2])  # fmt: skip
    assert np.allclose(
        np.array(stats["cohen_pairwise"], dtype=float), matrix, atol=1e-6, equal_nan=True
    )


def test_percent_and_first_error_agreement():
    data = np.array([[1, 2, -1, 3], [1, 3, -1, 0], [np.nan, 2, 0, 3]], dtype=float)
    # unit 0: 1 pair agrees; unit 1: 1 of 3; unit 2: 1 of 3; unit 3: 1 of 3
    assert ag.percent_agreement(data) == pytest.approx((1 + 1 / 3 + 1 / 3 + 1 / 3) / 4)
    fe = ag.first_error_agreement(data)
    assert fe.n_pairs == 1 + 3 + 3 + 3
    assert fe.exact == pytest.approx(4 / 10)
    # within one: u0 1/1; u1 (2,3) (2,2) (3,2) all 3; u2 (-1,-1) yes, (-1,0) no, (-1,0) no;
    # u3 (3,0) no, (3,3) yes, (0,3) no
    assert fe.within_one == pytest.approx((1 + 3 + 1 + 1) / 10)
    long = ag.first_error_agreement_long(ag.LongRatings.build(*_long(data)))
    assert (long.exact, long.within_one, long.n_pairs) == (fe.exact, fe.within_one, fe.n_pairs)


def test_position_bias_rate():
    rate, n, z = ag.position_bias_rate([True] * 70 + [False] * 30)
    assert (rate, n) == (0.7, 100)
    assert z == pytest.approx(4.0)


def _crowd(seed: int, n_tasks=300, n_workers=6, k=3):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_tasks)
    rows = []
    for t in range(n_tasks):
        for w in rng.choice(n_workers, 3, replace=False):
            good = rng.random() < 0.45 + 0.09 * w
            rows.append((t, int(w), int(truth[t] if good else rng.integers(0, k))))
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


@pytest.mark.parametrize("seed", range(4))
def test_dawid_skene_matches_crowd_kit(seed):
    df = _crowd(seed)
    ds = DawidSkene(n_iter=100, tol=1e-5).fit(df)
    ours = aggregation.dawid_skene(
        df.task.to_numpy(), df.worker.to_numpy(), df.label.to_numpy(),
        n_tasks=300, n_workers=6, n_classes=3,
    )  # fmt: skip
    probas = ds.probas_.sort_index()[sorted(ds.probas_.columns)].to_numpy()
    assert np.abs(probas - ours.probas).max() < 1e-9
    assert (ds.labels_.sort_index().to_numpy() == ours.labels).all()
    assert ours.n_iter == len(ds.loss_history_)
    errors = ds.errors_
    for (w, observed), row in errors.iterrows():
        for true in row.index:
            assert ours.errors[w, observed, true] == pytest.approx(row[true], abs=1e-9)


def test_majority_vote_and_aggregator_order_of_trust():
    mv = aggregation.majority_vote([0, 0, 0, 1, 1], [2, 2, 1, 0, 1], n_tasks=3, n_classes=3)
    assert mv.labels.tolist() == [2, 0, -1]
    assert mv.confidence[0] == pytest.approx(2 / 3)
    df = _crowd(1)
    agg = Aggregator.fit([0, 1, 2], df.task, df.worker, df.label)
    assert agg.uses_dawid_skene
    votes = [Vote(0, 0.0), Vote(5, 1.0)]
    assert agg.final(votes, adjudicated=2.0).source == "adjudication"
    ds_label = agg.final(votes)
    assert ds_label.source == "dawid_skene"
    post = agg.priors * agg.errors[0, 0] * agg.errors[5, 1]
    assert ds_label.value == float(post.argmax())
    assert ds_label.confidence == pytest.approx(post.max() / post.sum(), abs=1e-9)
    assert Aggregator([0, 1, 2]).final(votes).source == "majority"
    single = Aggregator([0, 1]).final([Vote(3, 1.0, consensus=True)])
    assert (single.source, single.confidence) == ("single+consensus", 1.0)


def test_helpsteer_triple_and_rounding():
    assert aggregation.most_similar_triple([3, -2, 2, 2, 0]) == [3, 2, 2]
    assert aggregation.most_similar_triple([3, 2, 2, 2, -3]) == [2, 2, 2]
    assert aggregation.rounded_mean([1, 2]) == 2
    assert aggregation.rounded_mean([-1, -2]) == -2


def test_agreement_on_100k_items_by_3_annotators_is_fast():
    import time

    rng = np.random.default_rng(0)
    n = 100_000
    truth = rng.integers(0, 3, n)
    data = np.where(rng.random((3, n)) < 0.8, truth, rng.integers(0, 3, (3, n))).astype(float)
    units, raters, values = _long(data)
    start = time.perf_counter()
    r = ag.LongRatings.build(units, raters, values)
    stats = ag.field_agreement(r, level="nominal", value_domain=[0, 1, 2])
    elapsed = time.perf_counter() - start
    assert stats["alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"), abs=1e-6
    )
    assert elapsed < 2.0
