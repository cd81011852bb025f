"""`label_studio` import against files Label Studio 1.23.2 wrote (tests/fixtures/label_studio,
see its README), refusals of what cannot be mapped, and the CLI/REST entry points."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from annotation.errors import ApplicationError
from annotation.importers.label_studio_config import label_config_map
from annotation.models import (
    Annotation,
    PreferenceLabel,
    PrincipleRating,
    TurnLabel,
    User,
)
from annotation.selectors.agreement import agreement_report
from annotation.services.imports import dataset_import

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "label_studio"


def fixture(name: str) -> tuple[bytes, str]:
    return (FIXTURES / f"{name}_export.json").read_bytes(), (
        FIXTURES / f"{name}_config.xml"
    ).read_text()


def run_import(project, data: bytes, config: str | None, **kw):
    options = {"label_config": config} if config is not None else {}
    return dataset_import(project=project, dataset_name="ls", fmt="label_studio",
                          stream=io.BytesIO(data), options=options, **kw)  # fmt: skip


def ls_results(data: bytes) -> list[tuple[int, int, dict]]:
    """(task id, completed_by, result) for every result in a Label Studio export."""
    return [
        (t["id"], a["completed_by"], r)
        for t in json.loads(data)
        for a in t["annotations"]
        for r in a["result"]
    ]


def test_pairwise_export_written_by_label_studio_maps_every_result(make_project):
    data, config = fixture("preference")
    project = make_project("preference")
    result = run_import(project, data, config)
    assert result.ok, result.errors
    assert (result.items_created, result.annotations_created) == (3, 6)
    anns = Annotation.objects.filter(item__project=project).select_related("annotator", "item")
    names = Counter(a.annotator.username for a in anns)
    assert names == {"label-studio:2": 3, "label-studio:3": 3}
    assert {a.annotator.kind for a in anns} == {User.Kind.IMPORTED}
    assert {a.source for a in anns} == {Annotation.Source.IMPORTED}

    by_key = {(int(a.item.external_id), int(a.annotator.username.split(":")[1])): a for a in anns}
    expected_pairs = expected_ratings = expected_text = 0
    for task_id, who, r in ls_results(data):
        ann = by_key[(task_id, who)]
        if r["type"] == "pairwise":
            expected_pairs += 1
            pref = PreferenceLabel.objects.get(annotation=ann)
            assert (pref.candidate_a.index, pref.candidate_b.index) == (0, 1)
            assert pref.strength == (-1 if r["value"]["selected"] == "left" else 1)
        elif r["type"] in ("rating", "choices"):
            expected_ratings += 1
            principle, answer = r["from_name"].rsplit("_", 1)
            value = r["value"]["rating"] if r["type"] == "rating" else int(r["value"]["choices"][0])
            row = PrincipleRating.objects.get(annotation=ann, principle=principle,
                                              candidate__index=int(answer[-1]) - 1)  # fmt: skip
            assert row.value == value
        else:
            expected_text += 1
            assert ann.justification == r["value"]["text"][0]
    assert expected_pairs == PreferenceLabel.objects.filter(annotation__in=anns).count() == 6
    assert expected_ratings == PrincipleRating.objects.filter(annotation__in=anns).count() == 24
    assert expected_text == sum(bool(a.justification) for a in anns) == 5
    item = anns[0].item
    assert item.prompt
    assert item.candidates.count() == 2
    assert item.metadata["label_studio"]["id"] == int(item.external_id)


def test_dialogue_export_written_by_label_studio_codes_each_turn(make_project):
    data, config = fixture("dialogue")
    project = make_project("dialogue_coding")
    result = run_import(project, data, config)
    assert result.ok, result.errors
    assert (result.items_created, result.annotations_created) == (2, 4)
    expected = Counter()
    for task_id, who, r in ls_results(data):
        key = {"paragraphlabels": "paragraphlabels", "choices": "choices"}.get(r["type"], "rating")
        code = r["value"][key]
        code = str(code[0] if isinstance(code, list) else code)
        expected[(str(task_id), f"label-studio:{who}", int(r["value"]["start"]),
                  r["from_name"], code)] += 1  # fmt: skip
    got = Counter(
        (tl.annotation.item.external_id, tl.annotation.annotator.username, tl.turn.index,
         tl.field, tl.value)
        for tl in TurnLabel.objects.filter(annotation__item__project=project)
        .select_related("annotation__item", "annotation__annotator", "turn")
    )  # fmt: skip
    assert got == expected
    assert sum(expected.values()) == 26
    turn = TurnLabel.objects.filter(field="main_therapist_behaviour").select_related("turn")[0]
    assert turn.turn.speaker == "therapist"


def test_agreement_and_exports_see_label_studio_annotators(make_project, tmp_path):
    from annotation.exporters.pipeline import export_write

    data, config = fixture("preference")
    project = make_project("preference")
    assert run_import(project, data, config).ok
    report = agreement_report(project=project, with_trend=False, with_models=False)
    fields = {f["field"]: f for f in report["fields"]}
    assert fields["preference_direction"]["n_raters"] == 2
    assert fields["preference_direction"]["n_units"] == 3
    assert fields["principle:empathy"]["n_units"] == 6
    manifest = export_write(project=project, fmt="trl_preference",
                            options={"labels": "per_annotator", "dedup": False},
                            out_dir=tmp_path / "e")  # fmt: skip
    assert {a["name"] for a in manifest["annotators"]} == {"label-studio:2", "label-studio:3"}
    assert manifest["counts"]["total"] == 6


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ('<View><Image name="img" value="$image"/><Pairwise name="c" toName="a,b"/></View>',
         "<Image>"),
        ('<View><Text name="t" value="$t"/><Labels name="l" toName="t"><Label value="x"/>'
         "</Labels></View>", "<Labels>"),
        ('<View><Text name="a" value="$a"/><Text name="b" value="$b"/>'
         '<Pairwise name="c" toName="a,b"/><Choices name="tone" toName="a">'
         '<Choice value="warm"/></Choices></View>', "tone"),
        ('<View><Paragraphs name="d" value="$d"/><Choices name="intent" toName="d">'
         '<Choice value="x"/></Choices></View>', "intent"),
        ('<!DOCTYPE x [<!ENTITY e "boom">]><View>&e;</View>', "DTD"),
        ("<View><Text name='a'", "not well-formed"),
        ("", "required"),
    ],
)  # fmt: skip
def test_configs_we_cannot_map_are_refused_naming_the_tag(config, named):
    with pytest.raises(ApplicationError) as exc:
        label_config_map(config)
    assert exc.value.field == "label_config"
    assert named in exc.value.message


def test_refused_config_writes_nothing_and_says_why(make_project):
    data, _ = fixture("preference")
    project = make_project("preference")
    result = run_import(project, data, '<View><Video name="v" value="$v"/></View>')
    assert not result.ok
    assert result.errors[0].field == "options.label_config"
    assert "<Video>" in result.errors[0].message
    assert not project.items.exists()


def test_config_of_the_other_kind_is_refused(make_project):
    data, config = fixture("dialogue")
    result = run_import(make_project("preference"), data, config)
    assert not result.ok
    assert "dialogue_coding data; this is a preference project" in result.errors[0].message


def _tasks(data: bytes) -> list[dict]:
    return json.loads(data)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda t: t[1]["annotations"][0]["result"][0].update(from_name="nope"),
         "annotations[0].result[0].from_name"),
        (lambda t: t[1]["annotations"][0]["result"][0].update(type="choices"),
         "annotations[0].result[0].type"),
        (lambda t: t[1]["annotations"][1].update(completed_by=t[1]["annotations"][0]["completed_by"]),
         "annotations[1]"),
        (lambda t: t[1]["data"].pop("answer2"), "data.answer2"),
        (lambda t: t[1]["annotations"][0]["result"][1]["value"].update(rating=9),
         "annotations[0].result[1].value.rating"),
    ],
)  # fmt: skip
def test_bad_records_name_record_and_field_and_write_nothing(make_project, change, field):
    data, config = fixture("preference")
    tasks = _tasks(data)
    change(tasks)
    project = make_project("preference")
    result = run_import(project, json.dumps(tasks).encode(), config)
    assert not result.ok
    issue = result.errors[0]
    assert (issue.line, issue.unit, issue.field) == (2, "record", field)
    assert not project.items.exists()


def test_region_spanning_two_turns_is_refused(make_project):
    data, config = fixture("dialogue")
    tasks = _tasks(data)
    tasks[0]["annotations"][0]["result"][0]["value"]["end"] = "2"
    result = run_import(make_project("dialogue_coding"), json.dumps(tasks).encode(), config)
    assert not result.ok
    assert "spans 0..2" in result.errors[0].message


def test_cancelled_annotations_are_not_imported_but_counted(make_project):
    data, config = fixture("preference")
    tasks = _tasks(data)
    tasks[0]["annotations"][0]["was_cancelled"] = True
    project = make_project("preference")
    result = run_import(project, json.dumps(tasks).encode(), config)
    assert result.ok
    assert result.annotations_created == 5
    item = project.items.get(external_id=str(tasks[0]["id"]))
    assert item.metadata["label_studio"]["cancelled_or_empty_annotations"] == 1


def test_jsonl_and_reimport_is_a_noop(make_project):
    data, config = fixture("preference")
    jsonl = "\n".join(json.dumps(t) for t in _tasks(data)).encode()
    project = make_project("preference")
    assert run_import(project, jsonl, config).items_created == 3
    again = run_import(project, data, config)
    assert again.ok
    assert again.items_unchanged == 3
    assert again.items_created == 0


def test_cli_takes_the_config_file(make_project, tmp_path, capsys):
    make_project("dialogue_coding", slug="ls-dialogue")
    call_command("import_dataset", str(FIXTURES / "dialogue_export.json"), "--format",
                 "label_studio", "--project", "ls-dialogue", "--label-config",
                 str(FIXTURES / "dialogue_config.xml"))  # fmt: skip
    assert "Imported 2 items" in capsys.readouterr().out
    assert TurnLabel.objects.filter(annotation__item__project__slug="ls-dialogue").count() == 26


def test_rest_upload_with_an_unmappable_config_is_400(make_project, api_client):
    project = make_project("preference")
    api_client.force_authenticate(project.created_by)
    data, _ = fixture("preference")
    response = api_client.post(
        f"/api/v1/projects/{project.slug}/imports/",
        {"file": SimpleUploadedFile("ls.json", data), "format": "label_studio",
         "dataset": "ls", "options": json.dumps({"label_config": "<View><Audio/></View>"})},
        format="multipart",
    )  # fmt: skip
    assert response.status_code == 400
    body = response.json()
    assert "<Audio>" in body["options.label_config"][0]
    assert not project.import_runs.exists()


def test_web_upload_takes_the_config_file(
    client, settings, django_capture_on_commit_callbacks, make_project
):
    from django.urls import reverse

    from annotation.models import ImportRun

    settings.CELERY_TASK_ALWAYS_EAGER = True
    project = make_project("dialogue_coding")
    client.force_login(project.created_by)
    data, config = fixture("dialogue")
    url = reverse("import_create", args=[project.slug])
    form = {"file": SimpleUploadedFile("ls.json", data), "format": "label_studio",
            "dataset_name": "ls"}  # fmt: skip
    response = client.post(url, form)
    assert response.status_code == 400
    assert "labeling config (XML) is required" in response.context["form"].errors["label_config"][0]
    assert not ImportRun.objects.exists()
    form["file"] = SimpleUploadedFile("ls.json", data)
    form["label_config"] = SimpleUploadedFile("config.xml", config.encode())
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, form)
    assert response.status_code == 302
    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.SUCCEEDED, run.message
    assert run.annotations_created == 4


@pytest.mark.parametrize(("kind", "offered"), [("preference", True), ("dialogue_coding", True),
                                               ("step_labels", False)])  # fmt: skip
def test_config_file_is_offered_only_where_a_format_reads_one(client, make_project, kind, offered):
    project = make_project(kind)
    client.force_login(project.created_by)
    page = client.get(f"/projects/{project.slug}/").content.decode()
    assert ('name="label_config"' in page) is offered
    assert 'name="file"' in page
