"""The export option `provenance`: all labels, human-verified only (no consensus
auto-labels), or unassisted (also no labels made on a pre-filled form); the card says which."""

from __future__ import annotations

import pytest

from annotation.errors import ApplicationError
from annotation.models import Annotation, Item
from tests.annotation.exporters.conftest import read_jsonl

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(import_native):
    recs = [
        {"external_id": f"t{i}", "prompt": f"p{i}", "steps": ["a", "b"],
         "annotations": [{"annotator": f"r{i}", "step_ratings": [1, -1 if i % 2 else 1]}]}
        for i in range(4)
    ]  # fmt: skip
    p = import_native("step_labels", recs, slug="prov")
    # The first two items were labeled in verify-the-model mode.
    first_two = Item.objects.filter(project=p).order_by("id")[:2]
    Annotation.objects.filter(item__in=list(first_two)).update(prefilled=True)
    return p


def test_unassisted_drops_prefilled_labels_and_says_so(project, export):
    manifest, out = export(project, "processbench", labels="per_annotator")
    rows = read_jsonl(out / "processbench/train-00000-of-00001.jsonl")
    assert len(rows) == 4
    assert "human-verified" not in (out / "README.md").read_text()
    manifest, out = export(project, "processbench", labels="per_annotator", provenance="unassisted")
    rows = read_jsonl(out / "processbench/train-00000-of-00001.jsonl")
    assert sorted(r["problem"] for r in rows) == ["p2", "p3"]
    assert manifest["options"]["provenance"] == "unassisted"
    card = (out / "README.md").read_text()
    assert "only human-verified labels made without model pre-fill" in card
    manifest, out = export(
        project, "processbench", labels="per_annotator", provenance="human_verified"
    )
    assert len(read_jsonl(out / "processbench/train-00000-of-00001.jsonl")) == 4
    assert "**only human-verified labels**" in (out / "README.md").read_text()


def test_human_verified_refuses_consensus(project, export):
    with pytest.raises(ApplicationError, match="options.include_consensus"):
        export(project, "processbench", provenance="human_verified", include_consensus=True)
    with pytest.raises(ApplicationError, match="options.provenance"):
        export(project, "processbench", provenance="mine")
