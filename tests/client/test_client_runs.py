"""The client drives background runs end to end: the live server queues them and a real
Celery worker (the configured broker: Redis in CI) runs them while the client polls.
PostgreSQL only (see conftest)."""

from __future__ import annotations

import io
import json

import pytest
from stepwise_client import ExportFailed, ImportFailed, JobFailed, WaitTimeout

from annotation.models import Item, StepLabel
from annotation.selectors.agreement import agreement_report
from annotation.services.imports import dataset_import

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _trace(i: int, annotations=None) -> dict:
    rec = {"external_id": f"t{i}", "prompt": f"What is {i}*3?",
           "steps": [f"{i}*3 = {3 * i}.", f"So the answer is {3 * i}."]}  # fmt: skip
    if annotations:
        rec["annotations"] = annotations
    return rec


@pytest.fixture
def steps(make_project, manager):
    return make_project("step_labels", slug="steps", manager=manager)


def test_import_uploads_polls_and_returns_the_counts(sw, steps, worker, tmp_path):
    path = _write_jsonl(tmp_path / "traces.jsonl", [_trace(i) for i in range(4)])
    run = sw.import_file("steps", path, format="native", dataset="batch-1")
    assert (run.status, run.ok, run.items_created, run.steps_created) == ("succeeded", True, 4, 8)
    assert (run.dataset_name, run.original_filename) == ("batch-1", "traces.jsonl")
    assert run.finished_at is not None
    assert Item.objects.filter(project=steps).count() == 4
    assert [(d.name, d.item_count) for d in sw.datasets("steps")] == [("batch-1", 4)]
    again = sw.import_file("steps", path, format="native", dataset="batch-1")
    assert (again.items_created, again.items_unchanged) == (0, 4)
    assert [r.id for r in sw.imports("steps")] == [again.id, run.id]


def test_a_bad_file_raises_import_failed_with_line_and_field(sw, steps, worker, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        json.dumps(_trace(0)) + "\n"
        + '{"external_id": "b", "steps": 7}\n'
        + '{"external_id": "c", "steps": ["ok"], "annotations": [{"annotator": "x", '
        '"first_error_index": 5}]}\n'
    )  # fmt: skip
    with pytest.raises(ImportFailed) as err:
        sw.import_file("steps", path, format="native", dataset="bad")
    failed = err.value
    assert failed.run.status == "failed"
    assert failed.error_count == 2
    assert failed.errors[0] == {
        "line": 2, "field": "steps", "message": "must be a list of strings, got integer",
    }  # fmt: skip
    assert failed.errors[1]["line"] == 3
    assert "first_error_index" in failed.errors[1]["field"]
    text = str(failed)
    assert "line 2, steps: must be a list of strings, got integer" in text
    assert "line 3" in text
    assert not Item.objects.filter(project=steps).exists()  # all or nothing


def test_wait_timeout_carries_the_run_and_waiting_again_finishes(sw, steps, worker, tmp_path):
    path = _write_jsonl(tmp_path / "t.jsonl", [_trace(1)])
    run = sw.import_file("steps", path, format="native", wait=False)
    assert run.status == "queued"
    assert not run.done
    with pytest.raises(WaitTimeout) as err:
        run.wait(timeout=0)
    assert err.value.run.id == run.id
    assert run.wait(timeout=30).items_created == 1


def test_job_runs_with_a_progress_bar(sw, steps, worker, tiny_model, tmp_path, capsys):
    assert sw.import_file("steps", _write_jsonl(tmp_path / "t.jsonl",
                                                [_trace(i) for i in range(3)]), format="native").ok  # fmt: skip
    project = sw.project("steps")
    job = project.run_job(
        "step_judge", model=tiny_model, params={"mode": "verify"}, chunk_size=1, timeout=120
    )
    assert (job.status, job.kind, job.model_name) == ("succeeded", "step_judge", tiny_model)
    assert job.progress_total == 3
    assert job.progress_done == 3
    bar = capsys.readouterr().err
    assert f"step_judge job {job.id}" in bar
    assert "3/3" in bar
    assert "succeeded" in bar
    assert [j.id for j in project.jobs()] == [job.id]


def test_a_failing_job_raises_job_failed(sw, steps, worker, tmp_path):
    assert sw.import_file("steps", _write_jsonl(tmp_path / "t.jsonl", [_trace(1)]),
                          format="native").ok  # fmt: skip
    job = sw.start_job("steps", "step_judge", model=str(tmp_path / "nope.gguf"),
                       params={"max_new_tokens": 4})  # fmt: skip
    with pytest.raises(JobFailed) as err:
        job.wait(timeout=60, progress=False)
    assert err.value.job.status == "failed"
    assert "does not exist" in err.value.job.error
    assert "does not exist" in str(err.value)


def test_agreement_matches_the_server_computation(sw, steps, worker, tmp_path):
    records = []
    for i in range(6):
        a = {
            "annotator": "rater-a",
            "first_error_index": -1 if i % 2 else 1,
            "step_ratings": [1, 1 if i % 2 else -1],
        }
        b = {
            "annotator": "rater-b",
            "first_error_index": -1 if i % 3 else 1,
            "step_ratings": [1, 1 if i % 3 else -1],
        }
        records.append(_trace(i, [a, b]))
    assert sw.import_file("steps", _write_jsonl(tmp_path / "rated.jsonl", records),
                          format="native").annotations_created == 12  # fmt: skip
    report = sw.agreement("steps", fresh=True)
    expected = agreement_report(project=steps, with_trend=False)
    assert report.project == "steps"
    assert report.computed_at is None
    assert [f.field for f in report.fields] == [f["field"] for f in expected["fields"]]
    fe = report["first_error_index"]
    want = next(f for f in expected["fields"] if f["field"] == "first_error_index")
    assert fe.alpha == pytest.approx(want["alpha"])
    assert fe.alpha is not None
    assert (fe.n_units, fe.n_raters) == (6, 2)
    assert {r["name"] for r in fe.raters} == {"rater-a", "rater-b"}
    assert StepLabel.objects.filter(annotation__item__project=steps).count() == 24
    only = sw.agreement("steps", fields=["first_error_index"], fresh=True)
    assert [f.field for f in only.fields] == ["first_error_index"]
    assert only.rows()[0]["alpha"] == pytest.approx(fe.alpha)


PAIRS = [("I feel lonely since I moved.", "That sounds hard. What do you miss most?",
          "Just join a club."),
         ("I can't sleep before exams.", "Exams can weigh on you. What keeps you up?",
          "Sleep more."),
         ("My sister stopped calling me.", "That must hurt. What happened between you?",
          "Call her then.")]  # fmt: skip


@pytest.fixture
def preference(make_project, manager):
    p = make_project("preference", slug="pairs", manager=manager)
    records = []
    for k in range(12):
        prompt, good, bad = PAIRS[k % 3]
        records.append({
            "external_id": f"p{k}", "prompt": f"{prompt} ({k})", "group_key": f"g{k}",
            "candidates": [{"text": good}, {"text": bad}],
            "annotations": [{"annotator": name, "preferences": [{"a": 0, "b": 1, "strength": -2}]}
                            for name in ("rater-a", "rater-b")],
        })  # fmt: skip
    stream = io.BytesIO("".join(json.dumps(r) + "\n" for r in records).encode())
    assert dataset_import(project=p, dataset_name="pairs", fmt="native", stream=stream).ok
    return p


def test_export_downloads_and_loads_as_a_datasetdict(sw, preference, worker, tmp_path):
    datasets = pytest.importorskip("datasets")
    export = sw.export("pairs", "trl_preference", test_size=0.4, seed=1, progress=True)
    assert export.ok
    assert export.format == "trl_preference"
    assert set(export.splits) == {"train", "test"}
    assert sum(export.splits.values()) == 12
    out = export.download(tmp_path / "out")
    names = {f.name for f in export.files}
    assert {"manifest.json", "README.md"} <= names
    assert all((out / n).is_file() for n in names)
    assert not list(out.rglob("*.part"))
    manifest = export.manifest()
    assert manifest["export_run"] == export.id

    dd = export.to_datasets(cache_dir=tmp_path / "hf")
    assert isinstance(dd, datasets.DatasetDict)
    assert {k: v.num_rows for k, v in dd.items()} == export.splits
    test_file = next(f for f in export.files if f.split == "test")
    first = json.loads((out / test_file.name).read_text().splitlines()[0])
    assert dd["test"][0]["chosen"] == first["chosen"]
    for row in dd["train"]:
        assert any(good in str(row["chosen"]) for _, good, _ in PAIRS)
        assert any(bad in str(row["rejected"]) for _, _, bad in PAIRS)

    # the same export fetched later (another notebook) loads the same rows
    again = sw.get_export("pairs", export.id)
    assert again.to_datasets(cache_dir=tmp_path / "hf")["train"]["prompt"] == dd["train"]["prompt"]
    assert [e.id for e in sw.exports("pairs")] == [export.id]


def test_parquet_export_loads_too(sw, preference, worker, tmp_path):
    pytest.importorskip("datasets")
    dd = sw.export("pairs", "trl_preference", file_format="parquet").to_datasets(
        cache_dir=tmp_path / "hf"
    )
    assert list(dd) == ["train"]
    assert dd["train"].num_rows == 12


def test_export_failed_is_raised_for_a_failed_run(sw, preference, worker, settings, tmp_path):
    # A media folder the worker cannot write to: the export fails with the OS's reason.
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the exports folder should be")
    settings.MEDIA_ROOT = str(blocked)
    with pytest.raises(ExportFailed) as err:
        sw.export("pairs", "trl_preference", timeout=60)
    assert err.value.export.status == "failed"
    assert err.value.export.error


def test_an_empty_export_warns_with_the_manifest_reason(sw, steps, worker, tmp_path):
    datasets = pytest.importorskip("datasets")
    path = _write_jsonl(tmp_path / "t.jsonl", [_trace(1)])
    assert sw.import_file("steps", path, format="native").ok  # items, but no labels
    export = sw.export("steps", "processbench")
    assert export.ok
    assert export.splits == {}
    with pytest.warns(UserWarning, match="has no records; .*empty"):
        dd = export.to_datasets(cache_dir=tmp_path / "hf")
    assert isinstance(dd, datasets.DatasetDict)
    assert len(dd) == 0
