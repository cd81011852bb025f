"""The dataset card (README.md with a Hugging Face YAML header) built from a manifest."""

from __future__ import annotations

import json
from typing import Any

_HF_LICENSES = {
    "mit": "mit",
    "apache-2.0": "apache-2.0",
    "apache 2.0": "apache-2.0",
    "cc-by-4.0": "cc-by-4.0",
    "cc by 4.0": "cc-by-4.0",
    "cc-by-nc-4.0": "cc-by-nc-4.0",
    "cc by-nc 4.0": "cc-by-nc-4.0",
    "cc-by-sa-4.0": "cc-by-sa-4.0",
    "cc0-1.0": "cc0-1.0",
}


def size_category(n: int) -> str:
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ):
        if n < limit:
            return name
    return "10M<n<100M"


def hf_license(licenses: list[str]) -> tuple[str, str]:
    """(license id, license name for 'other')."""
    found = sorted({x.strip() for x in licenses if x.strip()})
    if not found:
        return "unknown", ""
    ids = {_HF_LICENSES.get(x.lower()) for x in found}
    if len(ids) == 1 and None not in ids:
        return ids.pop() or "unknown", ""
    return "other", " + ".join(found)


def _q(value: Any) -> str:
    # JSON scalars are valid YAML scalars, quoted safely.
    return json.dumps(value, ensure_ascii=False)


def yaml_header(manifest: dict[str, Any]) -> str:
    lic, lic_name = hf_license([d["license"] for d in manifest["source_datasets"]])
    lines = [f"license: {lic}"]
    if lic_name:
        lines.append(f"license_name: {_q(lic_name)}")
    total = manifest["counts"]["total"]
    lines += [
        "language:",
        "- en",
        f"pretty_name: {_q(manifest['project']['name'] + ' — ' + manifest['format'])}",
        "size_categories:",
        f"- {size_category(total)}",
        "task_categories:",
        *[f"- {t}" for t in manifest["task_categories"]],
        "tags:",
        *[f"- {t}" for t in manifest["tags"]],
        "annotations_creators:",
        *[f"- {t}" for t in manifest["annotations_creators"]],
        "source_datasets:",
        "- original",
        "configs:",
        f"- config_name: {manifest['config_name']}",
        "  data_files:",
    ]
    for f in manifest["files"]:
        lines.append(f"  - split: {f['split']}")
        lines.append(f"    path: {_q(manifest['config_name'] + '/' + f['split'] + '-*')}")
    return "---\n" + "\n".join(lines) + "\n---\n"


def _fmt(x: Any) -> str:
    if x is None:
        return "undefined"
    if isinstance(x, float):
        return f"{x:.3f}"
    return str(x)


PROVENANCE_TEXT = {
    "all": "",
    "human_verified": (
        "; **only human-verified labels**: no model label that a human did not check (steps "
        "pre-filled by a model are kept where an annotator confirmed or changed each)"
    ),
    "unassisted": (
        "; **only human-verified labels made without model pre-fill** (labels made in "
        "verify-the-model mode left out, since pre-filled values anchor annotators)"
    ),
}


def dataset_card(manifest: dict[str, Any]) -> str:
    """README.md: YAML header, then the Data Cards sections."""
    p = manifest["project"]
    counts = manifest["counts"]
    out = [yaml_header(manifest), f"# {p['name']}: {manifest['format']} export\n"]
    out.append(
        f"{manifest['label']}. Exported by Stepwise (code {manifest['code_version']}) from "
        f"project `{p['slug']}` ({p['kind']}) on {manifest['created_at']}.\n"
    )
    out.append("## Files and splits\n")
    out.append("| split | file | records |\n| --- | --- | ---: |")
    for f in manifest["files"]:
        out.append(f"| {f['split']} | `{f['path']}` | {f['records']:,} |")
    out.append("")
    if counts.get("labels"):
        out.append("Records per label class: " + ", ".join(
            f"{split}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(lab.items()))
            for split, lab in counts["labels"].items()
        ) + ".\n")  # fmt: skip
    if counts.get("dropped"):
        out.append(
            "Left out: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(counts["dropped"].items()))
            + ".\n"
        )
    out.append(
        "Split: by group key (one problem or question is wholly in one split), seeded "
        f"(seed {manifest['options']['seed']}, test share {manifest['options']['test_size']}).\n"
    )
    out.append("## How the data was collected\n")
    for d in manifest["source_datasets"]:
        prov = f" — {d['provenance']}" if d["provenance"] else ""
        out.append(
            f"- **{d['name']}**: {d['items']:,} items imported as `{d['source_format']}`, "
            f"license {d['license'] or 'not recorded'}{prov}"
        )
    out.append("")
    out.append("## Who labeled it\n")
    kinds: dict[str, int] = {}
    for a in manifest["annotators"]:
        kinds[a["kind"]] = kinds.get(a["kind"], 0) + 1
    out.append(
        "Annotators whose labels are in this export: "
        + (", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none")
        + ". Imported sources are named after the file's labelers (e.g. "
        "`processbench-experts`, `counsel-chat-upvotes`); human annotators are project "
        "members who labeled items in Stepwise's interface.\n"
    )
    opts = manifest["options"]
    out.append(
        f"Labels: **{opts['labels']}**"
        + (
            " (one final label per unit: adjudicated > Dawid–Skene > majority vote; "
            "each carries its source and confidence)"
            if opts["labels"] == "final"
            else " (every annotator's labels as separate rows)"
        )
        + f"; consensus auto-labels {'included and marked' if opts['include_consensus'] else 'excluded'}"
        + PROVENANCE_TEXT[opts.get("provenance", "all")]
        + f"; minimum confidence {opts['min_confidence']}"
        + (f"; minimum item agreement {opts['min_agreement']}" if opts["min_agreement"] is not None else "")
        + ".\n"
    )  # fmt: skip
    if manifest.get("final_label_sources"):
        out.append(
            "Final labels by source: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(manifest["final_label_sources"].items()))
            + ".\n"
        )
    out.append("## Agreement\n")
    agreement = manifest.get("agreement") or {}
    if agreement.get("fields"):
        out.append("| field | level | Krippendorff α | % agreement | items rated ≥2× | raters |")
        out.append("| --- | --- | ---: | ---: | ---: | ---: |")
        for f in agreement["fields"]:
            out.append(
                f"| {f['label']} | {f['level']} | {_fmt(f['alpha'])} | "
                f"{_fmt(f['percent_agreement'])} | {f['n_units']:,} | {f['n_raters']} |"
            )
        out.append("")
    else:
        out.append((agreement.get("note") or "No agreement figures.") + "\n")
    out.append("## Pre-labeling methods\n")
    if manifest["models"]:
        for m in manifest["models"]:
            out.append(
                f"- `{m['method']}` by `{m['model_name']}` (job {m['job_id']}): "
                f"{m['suggestions']:,} suggestions"
            )
        out.append(
            "\nModel suggestions were shown to annotators only as pre-labels; they are not "
            "labels in this export unless consensus auto-labels were included.\n"
        )
    else:
        out.append("No model pre-labels were used in this project.\n")
    out.append("## Format details\n")
    out.append(
        "```json\n"
        + json.dumps(manifest["format_details"], indent=2, ensure_ascii=False)
        + "\n```\n"
    )
    out.append("## Known limits\n")
    for limit in manifest["known_limits"]:
        out.append(f"- {limit}")
    out.append("")
    return "\n".join(out)
