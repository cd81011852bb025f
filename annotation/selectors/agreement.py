"""Reads that build the inputs of `annotation.agreement` (long-format arrays per field).

Fields per project kind (the `key` of a `FieldSpec`):

- step_labels: `step_rating` (ordinal −1/0/+1 per step), `step_correct` (nominal per step
  under first-error semantics: steps before the annotator's first error are right, the first
  error is wrong, later steps are missing — not disagreement), `first_error_index`
  (nominal per item, −1 = no error; also exact and ±1 agreement);
- dialogue_coding: `turn:<field>` (nominal code per turn) for every coded field;
- preference: `preference_direction` (nominal −1/0/+1 per candidate pair) and
  `preference_strength` (ordinal −3..+3), `principle:<name>` (ordinal per response, or per
  pair when rated per pair).

Raters are annotators whose annotations have one of `sources` (default human and imported:
imported labels are an annotator's, so an AnnoMI file with several coders has agreement).
Consensus, adjudication and gold annotations never count as raters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db.models import Min, QuerySet

from annotation.aggregation import majority_vote
from annotation.agreement import (
    LongRatings,
    _alpha_from_counts,
    alpha_long,
    cohen_kappa,
    coincidence_matrix,
    confusion_matrix,
    field_agreement,
    first_error_agreement_long,
    json_float,
    value_domain_of,
)
from annotation.errors import ApplicationError
from annotation.kinds import label_kind_for
from annotation.kinds.base import FieldSpec
from annotation.models import (
    Annotation,
    PreferenceLabel,
    PrincipleRating,
    Project,
    Step,
    StepLabel,
    TurnLabel,
    User,
)
from annotation.selectors.agreement_models import pair_key, suggestion_ratings

RATER_SOURCES = (Annotation.Source.HUMAN, Annotation.Source.IMPORTED)
SOURCE_CHOICES = {
    "annotators": RATER_SOURCES,
    "human": (Annotation.Source.HUMAN,),
    "imported": (Annotation.Source.IMPORTED,),
}


@dataclass(slots=True)
class FieldRatings:
    spec: FieldSpec
    ratings: LongRatings
    rater_ids: list[int]
    rater_names: list[str]
    # Unit keys in the order of `ratings` unit indexes (step/turn/item/candidate ids).
    unit_keys: np.ndarray
    # Per rating: days since the epoch of the annotation (for the trend).
    day: np.ndarray = field(default_factory=lambda: np.zeros(0))


def sources_for(name: str | Sequence[str] | None) -> tuple[str, ...]:
    """'annotators' (default), 'human', 'imported', or an explicit list of sources."""
    if name is None:
        return RATER_SOURCES
    if isinstance(name, str):
        try:
            return SOURCE_CHOICES[name]
        except KeyError:
            raise ApplicationError(
                f"must be one of {', '.join(SOURCE_CHOICES)}, got {name!r}", field="sources"
            ) from None
    return tuple(name)


def agreement_fields(*, project: Project) -> list[FieldSpec]:
    """The label fields of a project, in the order the dashboard shows them."""
    return label_kind_for(project).agreement_fields(project=project)


def agreement_field_get(*, project: Project, key: str) -> FieldSpec:
    for spec in agreement_fields(project=project):
        if spec.key == key:
            return spec
    raise ApplicationError(
        f"no field {key!r} in project {project.slug!r}", code="unknown", field="field"
    )


def _annotations(project: Project, sources: Sequence[str]) -> QuerySet[Annotation]:
    # Labels made on a pre-filled form are anchored by the model: never in agreement.
    return Annotation.objects.filter(item__project=project, source__in=sources, prefilled=False)


def first_errors(
    *, project: Project, sources: Sequence[str]
) -> list[tuple[int, int, int, int, int]]:
    """(annotation id, item id, annotator id, first-error index, day) for every annotation
    that has one: its `first_error_index`, else derived from its step ratings (the first
    step rated −1; −1 when every rated step is fine)."""
    rows = list(
        _annotations(project, sources).values_list(
            "id", "item_id", "annotator_id", "first_error_index", "created_at"
        )
    )
    missing = [r[0] for r in rows if r[3] is None]
    derived: dict[int, int] = {}
    if missing:
        labelled = set(
            StepLabel.objects.filter(
                annotation__item__project=project,
                annotation__source__in=sources,
                annotation__prefilled=False,
                annotation__first_error_index__isnull=True,
                rating__isnull=False,
            )
            .values_list("annotation_id", flat=True)
            .distinct()
        )
        wrong = dict(
            StepLabel.objects.filter(
                annotation__item__project=project,
                annotation__source__in=sources,
                annotation__prefilled=False,
                annotation__first_error_index__isnull=True,
                rating=-1,
            )
            .values("annotation_id")
            .annotate(first=Min("step__index"))
            .values_list("annotation_id", "first")
        )
        derived = {a: wrong.get(a, -1) for a in labelled}
    out = []
    for ann_id, item_id, annotator_id, fe, created in rows:
        if fe is None:
            fe = derived.get(ann_id)
            if fe is None:
                continue
        out.append((ann_id, item_id, annotator_id, fe, _day(created)))
    return out


def _day(dt: Any) -> int:
    return int(dt.timestamp() // 86400) if dt is not None else 0


def _names(ids: Sequence[int]) -> list[str]:
    names = dict(User.objects.filter(id__in=list(ids)).values_list("id", "username"))
    return [names.get(i, str(i)) for i in ids]


def _finish(spec: FieldSpec, units: Any, raters: Any, values: Any, days: Any) -> FieldRatings:
    units = np.asarray(units, dtype=np.int64)
    raters = np.asarray(raters, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    r = LongRatings.build(units, raters, values)
    rater_ids = np.unique(raters).tolist()
    return FieldRatings(
        spec=spec,
        ratings=r,
        rater_ids=rater_ids,
        rater_names=_names(rater_ids),
        unit_keys=np.unique(units),
        day=np.asarray(days, dtype=np.int64),
    )


def agreement_ratings(
    *, project: Project, spec: FieldSpec, sources: Sequence[str] = RATER_SOURCES
) -> FieldRatings:
    """The long-format ratings of one field (see the module docstring for units/values)."""
    key = spec.key
    if key == "step_rating":
        rows = StepLabel.objects.filter(
            annotation__item__project=project,
            annotation__source__in=sources,
            annotation__prefilled=False,
            rating__isnull=False,
        ).values_list("step_id", "annotation__annotator_id", "rating", "annotation__created_at")
        u, r, v, d = _columns(rows, 4)
        return _finish(spec, u, r, v, [_day(x) for x in d])
    if key == "first_error_index":
        fes = first_errors(project=project, sources=sources)
        return _finish(
            spec, [f[1] for f in fes], [f[2] for f in fes], [f[3] for f in fes],
            [f[4] for f in fes],
        )  # fmt: skip
    if key == "step_correct":
        return _step_correct(project, spec, sources)
    if key.startswith("turn:"):
        name = key.split(":", 1)[1]
        code_of = {c: float(i) for i, c in enumerate(spec.codes or ())}
        turn_rows = TurnLabel.objects.filter(
            annotation__item__project=project, annotation__source__in=sources, field=name
        ).values_list("turn_id", "annotation__annotator_id", "value", "annotation__created_at")
        u, r, v, d = [], [], [], []
        for turn_id, annotator, value, created in turn_rows:
            if value in code_of:
                u.append(turn_id)
                r.append(annotator)
                v.append(code_of[value])
                d.append(_day(created))
        return _finish(spec, u, r, v, d)
    if key in ("preference_direction", "preference_strength"):
        pair_rows = PreferenceLabel.objects.filter(
            annotation__item__project=project, annotation__source__in=sources
        ).values_list(
            "candidate_a_id", "candidate_b_id", "annotation__annotator_id", "strength",
            "annotation__created_at",
        )  # fmt: skip
        u, r, v, d = [], [], [], []
        for a, b, annotator, strength, created in pair_rows:
            s = strength if a < b else -strength
            u.append(pair_key(a, b))
            r.append(annotator)
            v.append(float(np.sign(s)) if key == "preference_direction" else float(s))
            d.append(_day(created))
        return _finish(spec, u, r, v, d)
    if key.startswith("principle:"):
        name = key.split(":", 1)[1]
        principle_rows = PrincipleRating.objects.filter(
            annotation__item__project=project, annotation__source__in=sources, principle=name
        ).values_list(
            "candidate_id", "annotation__item_id", "annotation__annotator_id", "value",
            "annotation__created_at",
        )  # fmt: skip
        u, r, v, d = [], [], [], []
        domain = set(spec.domain or ())
        for cand, item_id, annotator, rating, created in principle_rows:
            if domain and float(rating) not in domain:
                continue
            u.append(cand if cand is not None else -item_id)
            r.append(annotator)
            v.append(float(rating))
            d.append(_day(created))
        return _finish(spec, u, r, v, d)
    raise ValueError(f"agreement_ratings: no reader for the field {key!r}")


def _columns(rows: Any, n: int) -> list[list[Any]]:
    cols: list[list[Any]] = [[] for _ in range(n)]
    for row in rows.iterator(chunk_size=20_000):
        for c, x in zip(cols, row, strict=True):
            c.append(x)
    return cols


def _step_correct(project: Project, spec: FieldSpec, sources: Sequence[str]) -> FieldRatings:
    fes = first_errors(project=project, sources=sources)
    if not fes:
        return _finish(spec, [], [], [], [])
    steps = np.array(
        list(Step.objects.filter(item__project=project).values_list("item_id", "index", "id")),
        dtype=np.int64,
    ).reshape(-1, 3)
    order = np.lexsort((steps[:, 1], steps[:, 0]))
    steps = steps[order]
    item_ids, first_pos, n_steps = np.unique(steps[:, 0], return_index=True, return_counts=True)
    fe = np.array(fes, dtype=np.int64)
    pos = np.searchsorted(item_ids, fe[:, 1])
    ok = (pos < len(item_ids)) & (item_ids[np.minimum(pos, len(item_ids) - 1)] == fe[:, 1])
    fe, pos = fe[ok], pos[ok]
    # Steps 0..fe are labelled (fe wrong, the rest right); fe = −1 labels every step right.
    take = np.where(fe[:, 3] < 0, n_steps[pos], np.minimum(fe[:, 3] + 1, n_steps[pos]))
    rep = np.repeat(np.arange(len(fe)), take)
    offset = np.arange(len(rep)) - np.repeat(np.cumsum(take) - take, take)
    step_rows = first_pos[pos][rep] + offset
    values = np.where((fe[rep, 3] >= 0) & (offset == fe[rep, 3]), 0.0, 1.0)
    return _finish(spec, steps[step_rows, 2], fe[rep, 2], values, fe[rep, 4])


# --- the report (the numbers the dashboard, the API and `manage.py agreement` show) -------

TREND_POINTS = 8


def _trend(fr: FieldRatings) -> list[dict[str, Any]]:
    """Cumulative α at up to TREND_POINTS moments between the first and last rating."""

    if len(fr.day) == 0:
        return []
    days = np.unique(fr.day)
    cuts = (
        days
        if len(days) <= TREND_POINTS
        else np.unique(days[np.linspace(0, len(days) - 1, TREND_POINTS).round().astype(int)])
    )
    out = []
    r = fr.ratings
    for cut in cuts:
        sel = fr.day <= cut
        sub = LongRatings(r.unit[sel], r.rater[sel], r.value[sel], r.n_units, r.n_raters)
        a = alpha_long(sub, fr.spec.level, fr.spec.domain)
        out.append({"day": int(cut), "alpha": _jf(a), "n_ratings": int(sel.sum())})
    return out


def _jf(x: float | None) -> float | None:

    return json_float(x)


def _domain_labels(spec: FieldSpec, domain: Iterable[float]) -> list[str]:
    if spec.codes:
        return [spec.codes[int(v)] for v in domain]
    return [str(int(v)) if float(v).is_integer() else str(v) for v in domain]


def field_report(
    *, project: Project, spec: FieldSpec, sources: Sequence[str] = RATER_SOURCES,
    with_trend: bool = True, with_models: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Every agreement figure of one field, JSON-ready."""

    fr = agreement_ratings(project=project, spec=spec, sources=sources)
    r = fr.ratings
    domain = value_domain_of(r.value, spec.domain)
    stats = field_agreement(
        r, level=spec.level, value_domain=list(domain), kappa_weights=spec.kappa_weights
    )
    report: dict[str, Any] = {
        "field": spec.key,
        "label": spec.label,
        "level": spec.level,
        "values": _domain_labels(spec, domain),
        **stats,
    }
    alpha_all = stats["alpha"]
    report["raters"] = [
        {
            "id": rid,
            "name": name,
            "n_ratings": n,
            "loo_alpha": loo,
            "alpha_delta": (
                None if alpha_all is None or loo is None else round(alpha_all - loo, 6)
            ),
        }
        for rid, name, n, loo in zip(
            fr.rater_ids, fr.rater_names, stats["ratings_per_rater"], stats["loo_alpha"],
            strict=True,
        )
    ]  # fmt: skip
    report["rater_names"] = fr.rater_names
    report["coincidence"] = (
        coincidence_matrix(r, domain).round(3).tolist() if len(domain) <= 40 else None
    )
    if spec.first_error:
        fe = first_error_agreement_long(r)
        report["first_error_exact"] = _jf(fe.exact)
        report["first_error_within_one"] = _jf(fe.within_one)
        report["first_error_pairs"] = fe.n_pairs
    if with_trend:
        report["trend"] = _trend(fr)
    if with_models:
        report["models"] = _model_vs_consensus(project, spec, fr, domain)
    return report


def _model_vs_consensus(
    project: Project, spec: FieldSpec, fr: FieldRatings, domain: np.ndarray
) -> list[dict[str, Any]]:
    """Each pre-labeler against the majority of the raters on the units both cover."""
    models = suggestion_ratings(project=project, spec=spec)
    if not models or fr.ratings.n_units == 0:
        return []
    r = fr.ratings
    dom_idx = np.searchsorted(domain, r.value)
    mv = majority_vote(r.unit, dom_idx, n_tasks=r.n_units, n_classes=len(domain))
    consensus = np.where(mv.labels >= 0, domain[np.maximum(mv.labels, 0)], np.nan)
    out = []
    for m in models:
        units = np.asarray(m.units, dtype=np.int64)
        vals = np.asarray(m.values, dtype=np.float64)
        pos = np.searchsorted(fr.unit_keys, units)
        ok = (pos < len(fr.unit_keys)) & (
            fr.unit_keys[np.minimum(pos, len(fr.unit_keys) - 1)] == units
        )
        ok &= np.isin(vals, domain)
        human = consensus[pos[ok]]
        model = vals[ok]
        both = ~np.isnan(human)
        human, model = human[both], model[both]
        n = len(model)
        row: dict[str, Any] = {"method": m.method, "model": m.model_name, "n_units": n}
        if n:
            counts = np.zeros((n, len(domain)))
            counts[np.arange(n), np.searchsorted(domain, human)] += 1
            counts[np.arange(n), np.searchsorted(domain, model)] += 1
            row["alpha"] = _jf(_alpha_from_counts(counts, domain, spec.level))
            row["cohen_kappa"] = _jf(
                cohen_kappa(model, human, weights=spec.kappa_weights, labels=list(domain))
            )
            row["percent_agreement"] = _jf(float((model == human).mean()))
            row["confusion"] = confusion_matrix(model, human, list(domain)).tolist()
        out.append(row)
    return out


def agreement_report(
    *,
    project: Project,
    fields: Sequence[str] | None = None,
    sources: str | Sequence[str] | None = None,
    with_trend: bool = True,
    with_models: bool = True,
) -> dict[str, Any]:
    """The agreement of every field (or the named ones) of a project."""
    src = sources_for(sources)
    specs = agreement_fields(project=project)
    if fields:
        known = {s.key for s in specs}
        unknown = [f for f in fields if f not in known]
        if unknown:
            raise ApplicationError(
                f"unknown field {unknown[0]!r}; known: {', '.join(sorted(known))}",
                code="unknown",
                field="field",
            )
        specs = [s for s in specs if s.key in fields]
    return {
        "project": project.slug,
        "sources": list(src),
        "fields": [
            field_report(
                project=project,
                spec=s,
                sources=src,
                with_trend=with_trend,
                with_models=with_models,
            )
            for s in specs
        ],  # fmt: skip
    }
