"""Against a live Label Studio 1.23.2 (pip-installed once into var/peers/ by
bench/peers/ls_peer.py; skipped with the reason when it cannot be installed here):

1. Label Studio writes its JSON exports of a pairwise project and a dialogue-coding project
   labeled by two users through its REST API; Stepwise imports them.
2. A Stepwise project goes back: our `label_studio` export and its config are imported into
   a fresh Label Studio, which exports the project again; importing that into Stepwise gives
   the same labels.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from annotation.exporters.pipeline import export_write
from annotation.models import Annotation, TurnLabel
from annotation.services.imports import dataset_import
from bench.peers import ls_fixtures, ls_peer
from tests.annotation.exporters.test_label_studio import PREFERENCE_ITEMS, import_records, labels_of

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


@pytest.fixture(scope="module")
def label_studio() -> None:
    try:
        ls_peer.ensure_installed(timeout=900)
    except ls_peer.PeerUnavailableError as exc:
        pytest.skip(f"label-studio {ls_peer.LS_VERSION} cannot be installed here: {exc}")


def _import(project, path: Path, config: str):
    with open(path, "rb") as fh:
        return dataset_import(project=project, dataset_name=path.stem, fmt="label_studio",
                              stream=fh, options={"label_config": config})  # fmt: skip


def test_exports_written_by_label_studio_import(label_studio, make_project, tmp_path):
    counts = ls_fixtures.generate(tmp_path)
    assert counts["preference"] == {"tasks": 3, "annotations": 6, "results": 35}
    pref = make_project("preference")
    result = _import(pref, tmp_path / "preference_export.json", ls_fixtures.PREFERENCE_CONFIG)
    assert result.ok, result.errors
    assert (result.items_created, result.annotations_created) == (3, 6)
    assert {a.annotator.username for a in Annotation.objects.filter(item__project=pref)} == {
        "label-studio:2", "label-studio:3"}  # fmt: skip
    dia = make_project("dialogue_coding")
    result = _import(dia, tmp_path / "dialogue_export.json", ls_fixtures.DIALOGUE_CONFIG)
    assert result.ok, result.errors
    assert result.annotations_created == counts["dialogue"]["annotations"] == 4
    assert TurnLabel.objects.filter(annotation__item__project=dia).count() == 26


def test_a_stepwise_export_goes_back_to_label_studio_and_returns(
    label_studio, make_project, tmp_path
):
    # Annotators named by the e-mail of Label Studio members, as a team going back has them.
    records = json.loads(json.dumps(PREFERENCE_ITEMS).replace('"alice"', '"ana@ls.example"')
                         .replace('"bob@example.org"', '"ben@ls.example"'))  # fmt: skip
    for rec in records:
        rec["annotations"] = [a for a in rec.get("annotations", [])
                              if a["annotator"].endswith("@ls.example")]  # fmt: skip
    source = make_project("preference", label_schema={"principles": ["empathy", "safety"]})
    import_records(source, records)
    out = tmp_path / "export"
    manifest = export_write(project=source, fmt="label_studio", options={}, out_dir=out)
    config = (out / "label_config.xml").read_text()
    back, users = ls_fixtures.go_back(out / manifest["files"][0]["path"], config)
    assert sum(len(t["annotations"]) for t in back) == 3
    by_id = {uid: email for email, uid in users.items()}
    assert {by_id[a["completed_by"]] for t in back for a in t["annotations"]} == {
        "ana@ls.example", "ben@ls.example"}  # fmt: skip

    target = make_project("preference", label_schema={"principles": ["empathy", "safety"]})
    result = dataset_import(project=target, dataset_name="back", fmt="label_studio",
                            stream=io.BytesIO(json.dumps(back).encode()),
                            options={"label_config": config})  # fmt: skip
    assert result.ok, result.errors
    # Label Studio keeps the task's meta, so the items come back under their external ids.
    returned = {(ext, by_id[int(name)]): v for (ext, name), v in labels_of(target).items()}
    assert returned == labels_of(source)
