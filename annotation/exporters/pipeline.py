"""Run one exporter into a folder: data files per split, `manifest.json`, `README.md`.

Streaming: items come in chunks (`annotation.exporters.source.iter_items`), rows go to the
files as they are made. What stays in memory grows only with what the options ask for:
8-byte digests for deduplication, and the long-format votes of the fields aggregated with
Dawid–Skene (fitted only when annotators overlap on enough units).
"""

from __future__ import annotations

import gc
import hashlib
import json
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from annotation.aggregation import MIN_OVERLAP_UNITS, Aggregator
from annotation.errors import ApplicationError
from annotation.exporters import exporter_get
from annotation.exporters.base import (
    ExportContext,
    Exporter,
    Row,
    SplitWriter,
    exporter_options_validate,
    serialise,
    split_of,
)
from annotation.exporters.card import dataset_card
from annotation.exporters.source import item_count, iter_items
from annotation.models import (
    Annotation,
    Dataset,
    Project,
    ProjectKind,
    ProjectStat,
    Suggestion,
    Turn,
    User,
)
from annotation.selectors.agreement import (
    agreement_field_get,
    agreement_ratings,
    agreement_report,
    sources_for,
)
from annotation.selectors.gold import project_quality_settings

# Projects up to this many items get agreement figures computed into the manifest; bigger
# ones use the dashboard's precomputed figures (ProjectStat "agreement").
AGREEMENT_INLINE_MAX_ITEMS = 5_000
# Items per read: 2,000 keeps a Parquet export of 200,000 traces under 300 MB with the next
# chunk prefetched; bigger chunks save nothing measurable.
CHUNK_ITEMS = 2000


def code_version() -> str:
    """The project version and, when the checkout has one, its commit (read from .git)."""
    base = Path(settings.BASE_DIR)
    version = "unknown"
    try:
        with open(base / "pyproject.toml", "rb") as fh:
            version = tomllib.load(fh)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        pass
    git = base / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            ref_file = git / ref
            if ref_file.is_file():
                head = ref_file.read_text().strip()
            else:
                packed = (git / "packed-refs").read_text().splitlines()
                head = next((ln.split()[0] for ln in packed if ln.endswith(" " + ref)), "")
        if head:
            return f"{version}+{head[:12]}"
    except OSError:
        pass
    return version


def export_format_check(*, project: Project, fmt: str) -> Exporter:
    """The exporter `fmt`; raises ApplicationError (field `format`) unless it exists and
    exports projects of this project's kind."""
    exporter = exporter_get(fmt)
    if project.kind not in exporter.project_kinds:
        raise ApplicationError(
            f"{fmt} exports {' or '.join(exporter.project_kinds)} projects; "
            f"{project.slug!r} is a {project.kind} project",
            code="wrong_kind",
            field="format",
        )
    return exporter


def export_sources(*, project: Project, options: dict[str, Any]) -> tuple[str, ...]:
    """The annotation sources that count as annotators' votes for this export."""
    src = list(sources_for(options["sources"]))
    if options["include_consensus"] and options["provenance"] != "all":
        raise ApplicationError(
            "consensus auto-labels are model labels no human verified",
            code="conflict",
            field="options.include_consensus",
        )
    if options["include_consensus"]:
        if not project_quality_settings(project=project).allow_consensus_labels:
            raise ApplicationError(
                "this project does not allow consensus auto-labels "
                "(the project setting allow_consensus_labels)",
                code="not_allowed",
                field="options.include_consensus",
            )
        src.append(Annotation.Source.CONSENSUS)
    return tuple(src)


def _has_overlap(project: Project, sources: tuple[str, ...]) -> bool:
    multi = (
        Annotation.objects.filter(item__project=project, source__in=sources)
        .values("item_id")
        .annotate(n=Count("id"))
        .filter(n__gte=2)
        .values("item_id")[:MIN_OVERLAP_UNITS]
    )
    return len(multi) >= MIN_OVERLAP_UNITS


def _aggregators(
    project: Project, exporter: Exporter, sources: tuple[str, ...]
) -> dict[str, Aggregator]:
    out: dict[str, Aggregator] = {}
    if not exporter.aggregate_fields or not _has_overlap(project, sources):
        return out
    for key in exporter.aggregate_fields:
        spec = agreement_field_get(project=project, key=key)
        fr = agreement_ratings(project=project, spec=spec, sources=sources)
        r = fr.ratings
        classes = sorted(set(spec.domain or ()) | set(r.value.tolist()))
        out[key] = Aggregator.fit(
            classes, fr.unit_keys[r.unit], [fr.rater_ids[i] for i in r.rater], r.value
        )
    return out


def _agreement_summary(project: Project, n_items: int) -> dict[str, Any]:
    stat = ProjectStat.objects.filter(project=project, key="agreement").first()
    if stat is not None:
        return {
            "computed_at": stat.computed_at.isoformat(),
            "fields": [_agreement_row(f) for f in stat.value.get("fields", [])],
        }
    if n_items > AGREEMENT_INLINE_MAX_ITEMS:
        return {
            "fields": [],
            "note": "Not computed for this export: refresh the dashboard statistics of the "
            "project and export again to include agreement figures.",
        }
    report = agreement_report(project=project, with_trend=False, with_models=False)
    return {
        "computed_at": timezone.now().isoformat(),
        "fields": [_agreement_row(f) for f in report["fields"]],
    }


def _agreement_row(f: dict[str, Any]) -> dict[str, Any]:
    keys = ("field", "label", "level", "alpha", "percent_agreement", "fleiss_kappa",
            "n_units", "n_raters", "first_error_exact", "first_error_within_one")  # fmt: skip
    return {k: f.get(k) for k in keys}


def _known_limits(project: Project, manifest: dict[str, Any]) -> list[str]:
    limits = []
    names = {d["source_format"] for d in manifest["source_datasets"]}
    if "counsel_chat" in names:
        limits.append(
            "counsel-chat preferences come from upvotes, a weak and view-confounded signal; "
            "use them as a prior, not as ground truth."
        )
    if any("nc" in (d["license"] or "").lower() for d in manifest["source_datasets"]):
        limits.append("Part of the source data is licensed for non-commercial use only.")
    single = manifest["final_label_sources"].get("single", 0)
    if single:
        limits.append(
            f"{single:,} final labels rest on a single annotator (no agreement can be "
            "measured for them; confidence 1.0 means 'one vote', not certainty)."
        )
    if project.kind == ProjectKind.STEP_LABELS:
        limits.append(
            "Under first-error labeling, steps after the first error are unlabeled; the "
            "records end there."
        )
    if project.kind == ProjectKind.PREFERENCE:
        limits.append("Candidate responses may come from models whose licenses apply.")
    if not manifest["counts"]["total"]:
        limits.append("The export is empty with these options.")
    return limits


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (refcounting still frees everything).

    An export allocates millions of short-lived, acyclic tuples and small objects; each
    chunk of them lives long enough to reach the older generations, so the collector keeps
    rescanning the heap for cycles there are none of. Measured: 60% of the reader's time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _write_rows(
    ctx: ExportContext,
    exporter: Exporter,
    stream: Callable[[ExportContext], Iterator[tuple[int, Iterator[Row]]]],
    writer: SplitWriter,
    keep_share: dict[str, float],
    progress: Callable[[int, int], None] | None,
    total_items: int,
) -> tuple[dict[str, Counter[str]], int]:
    """Stream every row through deduplication, balancing and the split into the writer;
    returns (label counts per split, items read)."""
    opts = ctx.options
    seen: set[int] = set()
    labels: dict[str, Counter[str]] = {}
    done = 0
    seed, test_size = opts["seed"], opts["test_size"]
    dedup, ignore, write = opts["dedup"], exporter.dedup_ignore, writer.write
    # Rows come in item order and items of a group are often adjacent: remember the last
    # group's split instead of hashing its key again.
    last_group, last_split = None, "train"
    for n, rows in stream(ctx):
        for row in rows:
            if row.line is None:
                line, digest = serialise(row.data, ignore)
            else:
                line, digest = row.line, row.digest
            if dedup:
                if digest in seen:
                    ctx.dropped["duplicate"] += 1
                    continue
                seen.add(digest)
            if keep_share:
                share = keep_share.get(row.label)
                if share is not None:
                    h = hashlib.blake2b(f"{seed}:{digest}".encode(), digest_size=8).digest()
                    if int.from_bytes(h, "big") / 2**64 >= share:
                        ctx.dropped["balance"] += 1
                        continue
            split = row.split
            if split is None:
                if row.group_key != last_group:
                    last_group = row.group_key
                    last_split = split_of(last_group, seed=seed, test_size=test_size)
                split = last_split
            write(split, row.data, line)
            counts = labels.get(split)
            if counts is None:
                counts = labels[split] = Counter()
            counts[row.label] += 1
        done += n
        if progress:
            progress(done, total_items)
    return labels, done


def export_write(
    *,
    project: Project,
    fmt: str,
    options: dict[str, Any] | None,
    out_dir: Path,
    progress: Callable[[int, int], None] | None = None,
    run_id: int | None = None,
) -> dict[str, Any]:
    """Write the export into `out_dir` (created); returns the manifest.

    Raises ApplicationError (field `format` or `options.<name>`) before writing anything.
    """
    exporter = export_format_check(project=project, fmt=fmt)
    opts = exporter_options_validate(exporter, options)
    sources = export_sources(project=project, options=opts)
    query_sources = (*sources, Annotation.Source.ADJUDICATION, Annotation.Source.GOLD)
    users = dict(
        User.objects.filter(annotations__item__project=project)
        .distinct()
        .values_list("id", "username")
    )
    ctx = ExportContext(project=project, options=opts, sources=sources, annotator_names=users)
    if opts["labels"] == "final":
        ctx.aggregators = _aggregators(project, exporter, sources)
    if project.kind == ProjectKind.PREFERENCE:
        mode = opts["conversational"]
        ctx.conversational = mode == "conversational" or (
            mode == "auto" and Turn.objects.filter(item__project=project).exists()
        )
    total_items = item_count(project=project)
    with_mc = bool(opts["mc_values"])

    def stream(c: ExportContext):  # noqa: ANN202
        for chunk in iter_items(
            project=project, sources=query_sources, chunk_size=CHUNK_ITEMS, with_mc=with_mc,
            with_times=not c.final or exporter.annotation_times,
            unassisted=opts["provenance"] == "unassisted",
        ):  # fmt: skip
            yield len(chunk), exporter.records(c, chunk)

    keep_share: dict[str, float] = {}
    balance = opts["balance"] and exporter.balanceable
    if balance:
        # First pass: the label classes only, to know how much of the larger one to keep.
        probe = ExportContext(
            project=project, options=opts, sources=sources, annotator_names=users,
            aggregators=ctx.aggregators, conversational=ctx.conversational,
        )  # fmt: skip
        classes: Counter[str] = Counter()
        with gc_paused():
            for _, rows in stream(probe):
                for row in rows:
                    classes[row.label] += 1
        if len(classes) == 2:
            (big, n_big), (_, n_small) = classes.most_common(2)
            keep_share[big] = n_small / n_big if n_big else 1.0

    out_dir.mkdir(parents=True, exist_ok=True)
    writer = SplitWriter(
        out_dir, fmt, opts["file_format"], lambda: exporter.arrow_schema(ctx),
        opts["row_group_size"],
    )  # fmt: skip
    try:
        with gc_paused():
            labels, done = _write_rows(
                ctx, exporter, stream, writer, keep_share, progress, total_items
            )
    finally:
        paths = writer.close()
    for rel, text in exporter.extra_files(ctx).items():
        (out_dir / rel).write_text(text, encoding="utf-8")

    files = []
    for split in sorted(paths, key=lambda s: ("train", "test", "ties").index(s)
                        if s in ("train", "test", "ties") else 9):  # fmt: skip
        rel = paths[split]
        path = out_dir / rel
        sha = hashlib.sha256()
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                sha.update(block)
        files.append(
            {"path": rel, "split": split, "records": writer.counts[split],
             "bytes": path.stat().st_size, "sha256": sha.hexdigest()}
        )  # fmt: skip
    datasets = [
        {"name": d.name, "source_format": d.source_format, "license": d.license,
         "provenance": d.provenance, "items": d.n}
        for d in Dataset.objects.filter(project=project).annotate(n=Count("items")).order_by("id")
    ]  # fmt: skip
    kinds = dict(User.objects.filter(id__in=list(ctx.annotators_used)).values_list("id", "kind"))
    annotators = [
        {"name": ctx.name(uid), "kind": kinds.get(uid, ""), "items": n}
        for uid, n in sorted(ctx.annotators_used.items(), key=lambda kv: ctx.name(kv[0]))
    ]
    models = [
        {"method": m, "model_name": name, "job_id": job, "suggestions": n}
        for m, name, job, n in Suggestion.objects.filter(item__project=project)
        .values("method", "model_name", "job_id")
        .annotate(n=Count("id"))
        .values_list("method", "model_name", "job_id", "n")
        .order_by("method", "model_name", "job_id")
    ]
    creators: set[str] = set()
    for a in annotators:
        creators.add(
            {"human": "expert-generated", "imported": "found"}.get(
                str(a["kind"]), "machine-generated"
            )
        )
    total = sum(writer.counts.values())
    manifest: dict[str, Any] = {
        "format": fmt,
        "label": exporter.label,
        "config_name": fmt,
        "export_run": run_id,
        "project": {"slug": project.slug, "name": project.name, "kind": project.kind},
        "created_at": timezone.now().isoformat(timespec="seconds"),
        "code_version": code_version(),
        "options": opts,
        "label_sources": list(sources),
        "files": files,
        "counts": {
            "total": total,
            "splits": dict(writer.counts),
            "labels": {s: dict(c) for s, c in labels.items()},
            "dropped": dict(ctx.dropped),
            "items_read": done,
        },
        "final_label_sources": dict(ctx.final_sources),
        "aggregation": {
            k: ("dawid_skene" if a.uses_dawid_skene else "majority")
            for k, a in ctx.aggregators.items()
        }
        or ("majority" if opts["labels"] == "final" else "none"),
        "source_datasets": datasets,
        "annotators": annotators,
        "models": models,
        "agreement": _agreement_summary(project, total_items),
        "task_categories": list(exporter.task_categories),
        "tags": list(exporter.tags),
        "annotations_creators": sorted(creators) or ["found"],
        "format_details": exporter.manifest_extra(ctx),
    }
    manifest["known_limits"] = _known_limits(project, manifest)
    (out_dir / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    (out_dir / "README.md").write_text(dataset_card(manifest), encoding="utf-8")
    return manifest
