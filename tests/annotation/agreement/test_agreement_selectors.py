"""Agreement computed from the database: AnnoMI-style multi-annotator import, step labels,
preferences, model pre-labels vs humans, and the management command."""

from __future__ import annotations

import csv
import io
import json

import krippendorff
import numpy as np
import pytest
from django.core.management import call_command

from annotation.models import Annotation, Project, Step, Suggestion
from annotation.selectors.agreement import agreement_report
from annotation.services.imports import dataset_import

FULL_HEADER = [
    "transcript_id", "mi_quality", "video_title", "video_url", "topic", "utterance_id",
    "interlocutor", "timestamp", "utterance_text", "main_therapist_behaviour",
    "client_talk_type", "annotator_id", "therapist_input_exists", "therapist_input_subtype",
    "reflection_exists", "reflection_subtype", "question_exists", "question_subtype",
]  # fmt: skip
BEHAVIOURS = ["reflection", "question", "therapist_input", "other"]
TALK = ["change", "neutral", "sustain"]


def annomi_full_csv(seed: int = 0) -> tuple[bytes, dict[str, np.ndarray]]:
    """Two transcripts of 8 utterances coded by 3 annotators (rows in a shuffled order);
    returns the file and, per field, the expected (annotators × utterances) code matrix."""
    rng = np.random.default_rng(seed)
    rows = []
    expected = {"main_therapist_behaviour": [], "client_talk_type": []}
    codes = {}
    for t in range(2):
        for u in range(8):
            speaker = "therapist" if u % 2 == 0 else "client"
            field = "main_therapist_behaviour" if speaker == "therapist" else "client_talk_type"
            choices = BEHAVIOURS if speaker == "therapist" else TALK
            truth = int(rng.integers(0, len(choices)))
            per = []
            for a in range(3):
                code = truth if rng.random() < 0.7 else int(rng.integers(0, len(choices)))
                per.append(code)
                codes[(t, u, a)] = (field, choices[code])
            expected[field].append(per)
    for (t, u, a), (field, code) in codes.items():
        speaker = "therapist" if u % 2 == 0 else "client"
        rows.append(
            [str(t), "high", f"Video {t}", f"https://example.org/{t}", "smoking", str(u),
             speaker, f"00:00:{u:02d}", f"Utterance {u} of transcript {t}.",
             code if field == "main_therapist_behaviour" else "n/a",
             code if field == "client_talk_type" else "n/a",
             str(a), "n/a", "n/a", "n/a", "n/a", "n/a", "n/a"]
        )  # fmt: skip
    order = rng.permutation(len(rows))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(FULL_HEADER)
    for i in order:
        w.writerow(rows[i])
    mats = {k: np.array(v, dtype=float).T for k, v in expected.items()}
    return buf.getvalue().encode(), mats


@pytest.fixture
def annomi_project(make_project) -> tuple[Project, dict[str, np.ndarray]]:
    project = make_project("dialogue_coding", slug="annomi")
    data, mats = annomi_full_csv()
    result = dataset_import(
        project=project, dataset_name="annomi-full", fmt="annomi", stream=io.BytesIO(data)
    )
    assert result.ok, result.errors
    return project, mats


def test_annomi_three_annotators_agreement_matches_krippendorff(annomi_project):
    project, mats = annomi_project
    report = agreement_report(project=project)
    by_field = {f["field"]: f for f in report["fields"]}
    for name, matrix in mats.items():
        f = by_field[f"turn:{name}"]
        expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
        assert f["alpha"] == pytest.approx(expected, abs=1e-6)
        assert f["n_raters"] == 3
        assert f["n_units"] == 8
        assert sorted(f["rater_names"]) == [f"annomi-annotator-{i}" for i in range(3)]
        assert f["fleiss_kappa"] is not None
    # Human-only agreement has no raters: imported sources are selectable.
    human = agreement_report(project=project, sources="human")
    assert all(f["n_raters"] == 0 for f in human["fields"])


def test_agreement_command_prints_the_report(annomi_project, capsys):
    project, mats = annomi_project
    call_command("agreement", "--project", project.slug, "--json")
    out = json.loads(capsys.readouterr().out)
    assert {f["field"] for f in out["fields"]} == {
        "turn:main_therapist_behaviour",
        "turn:client_talk_type",
    }
    call_command("agreement", "--project", project.slug, "--field", "turn:client_talk_type")
    text = capsys.readouterr().out
    assert "alpha" in text.lower()
    assert "annomi-annotator-1" in text


def _native_steps(records: list[dict]) -> io.BytesIO:
    return io.BytesIO("".join(json.dumps(r) + "\n" for r in records).encode())


def test_step_fields_first_error_semantics_and_model_vs_human(make_project):
    project = make_project("step_labels", slug="steps-agree")
    recs = []
    fes = {0: [-1, -1, 1], 1: [2, 2, 2], 2: [0, 1, 1], 3: [1, 1, -1]}
    for i, per in fes.items():
        anns = [{"annotator": f"rater-{a}", "first_error_index": fe} for a, fe in enumerate(per)]
        recs.append({"external_id": f"t{i}", "prompt": f"p{i}", "steps": ["a", "b", "c"],
                     "annotations": anns})  # fmt: skip
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=_native_steps(recs)
    ).ok
    # A judge that always says "no error" and a step verifier.
    for n, item in enumerate(project.items.order_by("id")):
        Suggestion.objects.create(item=item, target="item", method="judge", model_name="j",
                                  label="-1", job_id=1)  # fmt: skip
        for step in Step.objects.filter(item=item):
            Suggestion.objects.create(item=item, step=step, target=f"step:{step.index}",
                                      method="verify", model_name="v", score=0.9, job_id=2)  # fmt: skip
        assert n < 4
    report = agreement_report(project=project)
    by = {f["field"]: f for f in report["fields"]}
    fe_matrix = np.array(list(fes.values()), dtype=float).T
    assert by["first_error_index"]["alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=fe_matrix, level_of_measurement="nominal"), abs=1e-6
    )
    # exact: t0 1/3, t1 3/3, t2 1/3, t3 1/3 → 6/12; ±1: t0 1/3, t1 3/3, t2 3/3, t3 1/3
    assert by["first_error_index"]["first_error_exact"] == pytest.approx(0.5)
    assert by["first_error_index"]["first_error_within_one"] == pytest.approx(8 / 12)
    # Under first-error semantics steps after a rater's error are missing, not wrong.
    correct = by["step_correct"]
    assert correct["n_ratings"] == sum(3 if fe == -1 else fe + 1 for v in fes.values() for fe in v)
    judge = next(m for m in by["first_error_index"]["models"] if m["method"] == "judge")
    assert judge["n_units"] == 4
    # Human majority: t0 -1, t1 2, t2 1, t3 1 → the judge matches only t0.
    assert judge["percent_agreement"] == pytest.approx(0.25)
    verify = next(m for m in by["step_correct"]["models"] if m["method"] == "verify")
    assert verify["n_units"] > 0
    assert Annotation.objects.filter(source="imported").count() == 12
