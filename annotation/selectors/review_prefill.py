"""The starting point of the reviewer's final-label form: an adjudication when there is one,
else the gold answer, else the annotators' labels aggregated per unit (Dawid–Skene when the
project has the overlap to fit it, else majority vote), each value with where it came from.

The order is the exporters' (annotation.aggregation): adjudicated > Dawid–Skene > majority.
What a unit is and how labels become votes belong to the project's label kind
(`prefill_votes`, `prefill_labels`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import Count

from annotation.aggregation import MIN_OVERLAP_UNITS, Aggregator, FinalLabel, Vote
from annotation.kinds import label_kind_for, label_schema_validate
from annotation.kinds.base import FieldSpec, Labels, provenance_text
from annotation.models import Annotation, Item, Project, User
from annotation.selectors.agreement import agreement_ratings
from annotation.selectors.annotations import annotation_labels

PREFILL_SOURCES = (Annotation.Source.HUMAN, Annotation.Source.IMPORTED)
# A fitted Dawid–Skene model is kept this long; larger projects are not fitted in a request.
FIT_CACHE_SECONDS = 120
FIT_MAX_ANNOTATIONS = 20_000
_MAJORITY = Aggregator(())


@dataclass(slots=True)
class Prefill:
    """`labels` in the kind's normal form (with "provenance": {form target: (text, css)} when
    aggregated); `origin` one of "own", "adjudication", "gold", "aggregate" or "" (blank);
    `summary` one line for the form's head; `sources` counts the values per provenance."""

    labels: Labels = field(default_factory=dict)
    origin: str = ""
    summary: str = ""
    sources: dict[str, int] = field(default_factory=dict)


def review_prefill(
    *, project: Project, item: Item, annotations: Mapping[str, Sequence[Annotation]], reviewer: User
) -> Prefill:
    """What the final-label form of `item` starts with. `annotations` is item_review's
    grouping by source (revisions and label rows prefetched)."""
    adjudications = list(annotations.get(Annotation.Source.ADJUDICATION, []))
    mine = [a for a in adjudications if a.annotator_id == reviewer.id]
    if mine:
        return Prefill(annotation_labels(mine[-1]), "own", "Your saved final label.")
    if adjudications:
        latest = max(adjudications, key=lambda a: a.updated_at)
        who = latest.annotator.get_username()
        return Prefill(
            annotation_labels(latest), "adjudication", f"The final label {who} saved (adjudicated)."
        )
    gold = list(annotations.get(Annotation.Source.GOLD, []))
    if gold:
        return Prefill(annotation_labels(gold[-1]), "gold", "The item's gold answer.")
    raters = [a for s in PREFILL_SOURCES for a in annotations.get(s, [])]
    if not raters:
        return Prefill()
    kind = label_kind_for(project)
    specs = {s.key: s for s in kind.agreement_fields(project=project)}
    votes: dict[tuple[str, object], list[Vote]] = {}
    for ann in raters:
        found = kind.prefill_votes(labels=annotation_labels(ann), item=item, specs=specs)
        for key, value in found.items():
            votes.setdefault(key, []).append(Vote(ann.annotator_id, value))
    aggregators = review_aggregators(
        project=project, specs=[specs[k] for k in {k for k, _ in votes} if k in specs]
    )
    finals: dict[tuple[str, object], FinalLabel] = {}
    for key, vs in votes.items():
        final = aggregators.get(key[0], _MAJORITY).final(vs)
        if final is not None:
            finals[key] = final
    schema = label_schema_validate(project.kind, project.label_schema)
    labels = kind.prefill_labels(finals=finals, item=item, schema=schema, specs=specs)
    if not labels:
        return Prefill()
    provenance = {t: provenance_text(f) for t, f in labels.get("provenance", {}).items()}
    labels["provenance"] = provenance
    counts: dict[str, int] = {}
    for _text, css in provenance.values():
        counts[css] = counts.get(css, 0) + 1
    return Prefill(labels, "aggregate", _summary(counts, len(raters)), counts)


_SUMMARY = {"prov-agree": "agreed by all", "prov-ds": "by Dawid–Skene",
            "prov-majority": "by majority", "prov-tie": "tied",
            "prov-single": "from a single annotator", "prov-other": "other"}  # fmt: skip


def _summary(counts: Mapping[str, int], n_raters: int) -> str:
    parts = [f"{n} {_SUMMARY.get(css, css)}" for css, n in counts.items()]
    return (
        f"Pre-filled from {n_raters} annotator label{'s' if n_raters != 1 else ''} "
        f"(adjudicated > Dawid–Skene > majority): {', '.join(parts)}. Check each value."
    )


def review_aggregators(*, project: Project, specs: Iterable[FieldSpec]) -> dict[str, Aggregator]:
    """Dawid–Skene fitted per field on the whole project, when it has enough items with two
    or more annotations to fit one; majority vote (no entry) otherwise.

    The fits and the overlap check are cached for FIT_CACHE_SECONDS: a starting point a
    minute or two behind the newest labels is fine, and a review page must not refit on
    every load. Projects with more than FIT_MAX_ANNOTATIONS rater annotations are not
    fitted inside a request (seconds of work); their forms use majority vote."""
    specs = list(specs)
    if not specs:
        return {}
    state_key = f"stepwise:review-fit-state:{project.id}"
    state = cache.get(state_key)
    if state is None:
        rater_anns = Annotation.objects.filter(item__project=project, source__in=PREFILL_SOURCES)
        total = rater_anns.count()
        overlap = 0
        if total <= FIT_MAX_ANNOTATIONS:
            multi = (
                rater_anns.values("item_id")
                .annotate(n=Count("id"))
                .filter(n__gte=2)
                .values("item_id")[:MIN_OVERLAP_UNITS]
            )
            overlap = len(multi)
        state = "fit" if overlap >= MIN_OVERLAP_UNITS else "majority"
        cache.set(state_key, state, FIT_CACHE_SECONDS)
    if state != "fit":
        return {}
    out: dict[str, Aggregator] = {}
    for spec in specs:
        key = f"stepwise:review-fit:{project.id}:{spec.key}"
        agg = cache.get(key)
        if agg is None:
            fr = agreement_ratings(project=project, spec=spec, sources=PREFILL_SOURCES)
            r = fr.ratings
            classes = sorted(set(spec.domain or ()) | set(r.value.tolist()))
            agg = Aggregator.fit(
                classes, fr.unit_keys[r.unit], [fr.rater_ids[i] for i in r.rater], r.value
            )
            cache.set(key, agg, FIT_CACHE_SECONDS)
        out[spec.key] = agg
    return out
