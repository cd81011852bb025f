"""The Exports page: researchers and managers start an export with a format and its options,
see it run, what it holds and left out (in words), its dataset card, and download it."""

from __future__ import annotations

import io
import json

import pytest

from annotation.exporters.explain import dropped_explained
from annotation.models import ExportRun, Role
from annotation.services.exports import export_run_execute
from annotation.services.imports import dataset_import


@pytest.fixture
def project(make_project):
    p = make_project("step_labels", slug="web-exp")
    p.name = "Traces <script>alert(1)</script>"
    p.save()
    recs = [{"id": f"pb-{i}", "generator": "g", "problem": f"p{i}", "steps": ["a", "b"],
             "final_answer_correct": True, "label": i % 3 - 1} for i in range(6)]  # fmt: skip
    # The same trace under another id: a duplicate row for the export's dedup.
    recs.append({**recs[0], "id": "pb-copy"})
    assert dataset_import(project=p, dataset_name="pb", fmt="processbench",
                          stream=io.BytesIO(json.dumps(recs).encode())).ok  # fmt: skip
    return p


def test_roles(project, member, make_user, client):
    url = f"/projects/{project.slug}/exports/"
    for role in (Role.ANNOTATOR, Role.REVIEWER):
        client.force_login(member(project, role))
        assert client.get(url).status_code == 403
        assert client.post(url, {"format": "processbench"}).status_code == 403
    client.force_login(make_user())
    assert client.get(url).status_code == 404
    client.force_login(member(project, Role.MANAGER))
    assert client.get(url).status_code == 200
    researcher = member(project, Role.RESEARCHER)
    client.force_login(researcher)
    page = client.get(f"/projects/{project.slug}/").content.decode()
    assert f'href="/projects/{project.slug}/exports/"' in page  # linked from the project page


def test_the_form_offers_the_formats_of_the_kind_and_explains_each_option(project, member,
                                                                          client):  # fmt: skip
    client.force_login(member(project, Role.RESEARCHER))
    html = client.get(f"/projects/{project.slug}/exports/").content.decode()
    for name in ("trl_stepwise", "math_shepherd", "processbench", "prm800k"):
        assert f'value="{name}"' in html
    assert 'value="trl_preference"' not in html  # another kind's format
    assert "Final labels (adjudicated &gt; Dawid–Skene &gt; majority)" in html
    assert "Share of groups (a problem, a question)" in html  # split by group
    assert "Leave out a row identical to an earlier one" in html  # dedup
    assert "Keep as many rows of the larger class" in html  # balance (trl_stepwise)
    assert "does not allow consensus labels" in html  # disabled, with the reason
    # Another format: the form comes back with that format's options.
    resp = client.get(f"/projects/{project.slug}/exports/", {"format": "processbench"},
                      HTTP_HX_REQUEST="true", HTTP_HX_TARGET="export-form")  # fmt: skip
    fragment = resp.content.decode()
    assert fragment.lstrip().startswith('<form id="export-form"')
    assert 'value="processbench" selected' in fragment
    assert 'name="balance"' not in fragment  # ProcessBench records are not balanced
    assert 'name="mc_values"' not in fragment


def test_start_run_and_see_counts_left_out_card_and_files(project, member, client,
                                                          django_capture_on_commit_callbacks):  # fmt: skip
    client.force_login(member(project, Role.RESEARCHER))
    url = f"/projects/{project.slug}/exports/"
    data = {"format": "processbench", "labels": "final", "sources": "annotators",
            "min_confidence": "0", "test_size": "0.5", "seed": "3", "dedup": "on",
            "file_format": "jsonl", "neutral": "true", "truncate_after_first_error": "on",
            "include_consensus": "on"}  # fmt: skip
    with django_capture_on_commit_callbacks() as callbacks:
        resp = client.post(url, data, HTTP_HX_REQUEST="true")
    assert resp.status_code == 200
    assert len(callbacks) == 1  # the task, after commit
    run = ExportRun.objects.get(project=project)
    assert run.format == "processbench"
    assert run.options["test_size"] == 0.5
    assert run.options["seed"] == 3
    assert run.options["include_consensus"] is False  # not allowed here: never sent
    html = resp.content.decode()
    assert f'id="export-{run.id}"' in html
    assert "every 1s" in html  # the queued run polls
    export_run_execute(run_id=run.id)
    row = client.get(f"/projects/{project.slug}/exports/{run.id}/row/", {"on": "exports"},
                     HTTP_HX_REQUEST="true").content.decode()  # fmt: skip
    assert "every 1s" not in row
    assert "Records" in row
    assert "1 duplicate row: identical to an earlier row. Turn off Remove duplicates" in row
    assert "Test share (split by group): 0.5" in row
    assert f"/api/v1/projects/{project.slug}/exports/{run.id}/download/README.md" in row
    run.refresh_from_db()
    data_file = run.counts["files"][0]["path"]
    assert f"/download/{data_file}" in row
    # The card: rendered Markdown, the project's name escaped, never markup.
    card = client.get(f"/projects/{project.slug}/exports/{run.id}/card/",
                      HTTP_HX_REQUEST="true").content.decode()  # fmt: skip
    assert "<table>" in card
    assert "<script>" not in card
    assert "&lt;script&gt;" in card
    assert "license:" in card  # the YAML header, as text
    # The same run on the page itself.
    page = client.get(url).content.decode()
    assert "1 duplicate row" in page


def test_bad_options_come_back_on_the_form(project, member, client):
    client.force_login(member(project, Role.MANAGER))
    url = f"/projects/{project.slug}/exports/"
    resp = client.post(url, {"format": "trl_stepwise", "min_confidence": "2", "test_size": "0",
                             "seed": "0", "labels": "final", "sources": "annotators",
                             "file_format": "jsonl", "neutral": "true"},
                       HTTP_HX_REQUEST="true")  # fmt: skip
    assert resp.status_code == 400
    assert resp["HX-Retarget"] == "#export-form"
    assert "less than or equal to 1" in resp.content.decode()
    assert not ExportRun.objects.exists()
    resp = client.post(url, {"format": "nope"})
    assert resp.status_code == 400
    assert not ExportRun.objects.exists()


def test_left_out_rows_are_explained_in_words():
    lines = dropped_explained({"tie": 1, "min_confidence": 3, "odd_reason": 2},
                              {"min_confidence": 0.8})  # fmt: skip
    assert lines[0] == ("3 labels below the minimum confidence (0.8). Lower Minimum confidence "
                        "to include them.")  # fmt: skip
    assert "1 tie: a pair rated “about the same” gives no preference pair" in lines[2]
    assert "Write ties to a separate file" in lines[2]
    assert lines[1] == "2 left out: odd reason."
    assert dropped_explained({"balance": 0}, {}) == []
