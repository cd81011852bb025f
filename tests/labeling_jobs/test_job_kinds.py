"""Job kinds declare what they run on and which suggestion methods they write, so the two
enums cannot drift apart."""

from __future__ import annotations

from annotation.models import ProjectKind, SuggestionMethod
from labeling_jobs.methods import KIND_DEFAULTS, RUNNERS
from labeling_jobs.models import JOB_KIND_SPECS, JobKind, job_kinds_for


def test_every_job_kind_is_declared_and_runnable() -> None:
    assert set(JOB_KIND_SPECS) == set(JobKind)
    assert set(RUNNERS) == set(JobKind)
    assert set(KIND_DEFAULTS) == set(JobKind)
    assert {spec.project_kind for spec in JOB_KIND_SPECS.values()} <= set(ProjectKind)


def test_every_suggestion_method_is_written_by_exactly_one_job_kind() -> None:
    written = [m for spec in JOB_KIND_SPECS.values() for m in spec.methods]
    assert sorted(written) == sorted(SuggestionMethod)


def test_job_kinds_for_a_project_kind() -> None:
    assert job_kinds_for(ProjectKind.PREFERENCE) == [JobKind.PAIR_JUDGE]
    assert JobKind.CONSENSUS in job_kinds_for(ProjectKind.STEP_LABELS)
    assert job_kinds_for("essay_grading") == []
