"""Crowd-worker study links: creating and editing them, letting workers in, and each worker's
stream (training round, attention checks, quota, completion).

A worker's stream, in order:
1. the training round, when the link has one: `training_items` gold items, the worker told
   after each whether they were right; under `pass_mark` they are stopped (status failed,
   their code marked for rejection);
2. the main stream: ordinary items with gold items mixed in as attention checks at
   `attention_rate`, until `quota` items are submitted (attention checks count toward the
   quota, training items do not) or nothing is left;
3. the end: status completed, or rejected when the attention checks were answered right
   under `pass_mark`; the worker is shown their code.

Counters on the StudyWorker row change only when a submit created the annotation (a
repeated submit of one form changes nothing), under the row's lock.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from annotation.errors import ApplicationError
from annotation.models import Assignment, Project, Role, StudyLink, StudyWorker, User
from annotation.selectors.gold import annotation_matches_gold
from annotation.services.annotations import annotation_submit_created
from annotation.services.assignments import assignment_claim_next
from annotation.services.projects import membership_set

PARAM_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
WORKER_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
CODE_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
PLATFORM_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
CONSENT_MAX = 20_000
QUOTA_MAX = 10_000
WORKERS_MAX = 100_000
TRAINING_MAX = 100

# What a manager may set, with the defaults of a new link (Prolific's parameter names).
LINK_DEFAULTS: dict[str, Any] = {
    "platform": "prolific",
    "worker_param": "PROLIFIC_PID",
    "study_param": "STUDY_ID",
    "session_param": "SESSION_ID",
    "quota": 10,
    "max_workers": 50,
    "paused": False,
    "consent_text": "",
    "failure_code": "",
    "completion_url": "",
    "training_items": 0,
    "pass_mark": 0.8,
    "attention_rate": 0.0,
}
LINK_FIELDS = frozenset({"name", "completion_code", *LINK_DEFAULTS})


def _bad(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, field=field)


def _clean_text(field: str, value: Any, *, max_length: int, pattern: re.Pattern[str] | None,
                allow_blank: bool) -> str:  # fmt: skip
    if not isinstance(value, str):
        raise _bad(field, "must be a string")
    text: str = value.strip()
    if not text:
        if allow_blank:
            return ""
        raise _bad(field, "must not be empty")
    if len(text) > max_length:
        raise _bad(field, f"must be at most {max_length} characters")
    if "\x00" in text:
        raise _bad(field, "must not contain NUL characters")
    if pattern is not None and not pattern.match(text):
        raise _bad(field, "contains characters that are not allowed")
    return text


def _clean_int(field: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _bad(field, f"must be a whole number from {lo} to {hi}")
    return int(value)


def _clean_share(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise _bad(field, "must be a number from 0 to 1")
    return float(value)


def completion_url_clean(value: Any) -> str:
    """An absolute http(s) URL with a host, or "" (none). Raises ApplicationError."""
    url = _clean_text("completion_url", value, max_length=2000, pattern=None, allow_blank=True)
    if not url:
        return ""
    parts = urlsplit(url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or any(c in url for c in " <>\"'\\")
    ):
        raise _bad("completion_url", "must be an http:// or https:// URL")
    return url


def _clean(data: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(data) - LINK_FIELDS
    if unknown:
        raise _bad(sorted(unknown)[0], "is not a setting of a study link")
    out: dict[str, Any] = {}
    text = {
        "name": (200, None, False),
        "completion_code": (64, CODE_RE, False),
        "failure_code": (64, CODE_RE, True),
        "platform": (32, PLATFORM_RE, False),
        "worker_param": (64, PARAM_RE, False),
        "study_param": (64, PARAM_RE, False),
        "session_param": (64, PARAM_RE, False),
        "consent_text": (CONSENT_MAX, None, True),
    }
    for field, value in data.items():
        if field in text:
            n, pattern, blank = text[field]
            out[field] = _clean_text(field, value, max_length=n, pattern=pattern, allow_blank=blank)
        elif field == "completion_url":
            out[field] = completion_url_clean(value)
        elif field == "quota":
            out[field] = _clean_int(field, value, 1, QUOTA_MAX)
        elif field == "max_workers":
            out[field] = _clean_int(field, value, 1, WORKERS_MAX)
        elif field == "training_items":
            out[field] = _clean_int(field, value, 0, TRAINING_MAX)
        elif field in ("pass_mark", "attention_rate"):
            out[field] = _clean_share(field, value)
        elif field == "paused":
            if not isinstance(value, bool):
                raise _bad(field, "must be true or false")
            out[field] = value
    return out


def _check_params(values: Mapping[str, Any]) -> None:
    names = [values["worker_param"], values["study_param"], values["session_param"]]
    if len(set(names)) != len(names):
        raise _bad("study_param", "the three parameter names must differ")


@transaction.atomic
def study_link_create(*, project: Project, user: User | None, data: Mapping[str, Any]) -> StudyLink:
    """A new study link with a fresh secret token. `data` holds `name` and `completion_code`
    and any of LINK_DEFAULTS' settings. Raises ApplicationError naming the field."""
    values = {**LINK_DEFAULTS, **_clean(data)}
    for required in ("name", "completion_code"):
        if required not in values:
            raise _bad(required, "is required")
    _check_params(values)
    return StudyLink.objects.create(
        project=project, token=secrets.token_urlsafe(18), created_by=user, **values
    )


@transaction.atomic
def study_link_update(*, link: StudyLink, data: Mapping[str, Any]) -> StudyLink:
    """Change some settings of a link (its token and project stay). Raises ApplicationError."""
    values = _clean(data)
    merged = {f: values.get(f, getattr(link, f)) for f in LINK_FIELDS}
    _check_params(merged)
    for field, value in values.items():
        setattr(link, field, value)
    if values:
        link.save(update_fields=sorted(values))
    return link


def study_link_set_paused(*, link: StudyLink, paused: bool) -> StudyLink:
    return study_link_update(link=link, data={"paused": paused})


# --- workers arriving ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arrival:
    worker_id: str
    study_id: str
    session_id: str


def study_arrival_parse(*, link: StudyLink, params: Mapping[str, str]) -> Arrival:
    """The worker's ids from the link's query parameters. Raises ApplicationError
    (code `missing_params`) when the worker id is absent or malformed; the study and session
    ids are kept when given (bounded) and may be absent."""
    raw = params.get(link.worker_param, "")
    if not isinstance(raw, str) or not WORKER_ID_RE.match(raw):
        raise ApplicationError(
            f"This study link must be opened from the study platform (it needs the "
            f"{link.worker_param} parameter).",
            code="missing_params",
            field=link.worker_param,
        )

    def extra(name: str) -> str:
        value = params.get(name, "")
        return value if isinstance(value, str) and WORKER_ID_RE.match(value) else ""

    return Arrival(
        worker_id=raw, study_id=extra(link.study_param), session_id=extra(link.session_param)
    )


def _account(link: StudyLink, worker_id: str) -> User:
    """The worker's account, keyed by platform and worker id, without a usable password.

    An existing account of that name is reused only when it is a study worker's (it has a
    StudyWorker row): an account made any other way (by an administrator, an import) is never
    signed in through a link, whatever its name."""
    username = f"{link.platform}:{worker_id}"[:150]
    user = User.objects.filter(username=username).first()
    if user is not None and not StudyWorker.objects.filter(user=user).exists():
        raise ApplicationError(
            "This worker id cannot be used with this study.", code="conflict", field="worker_id"
        )
    if user is None:
        try:
            with transaction.atomic():
                user = User(username=username, kind=User.Kind.HUMAN)
                user.set_unusable_password()
                user.save()
        except IntegrityError:  # the same worker's other tab created it a moment ago
            user = User.objects.get(username=username)
    return user


@transaction.atomic
def study_worker_enter(*, link: StudyLink, arrival: Arrival) -> StudyWorker:
    """Let a worker in: their StudyWorker row (and account, and annotator membership of the
    link's project) on their first visit, the same row when they come back.

    A worker who already came in may come back while the link is paused or full. A new one
    is refused with ApplicationError code `study_paused` or `study_full`; the cap is counted
    under the link's row lock, so two workers arriving at once cannot both take the last
    place.
    """
    existing = StudyWorker.objects.filter(link=link, worker_id=arrival.worker_id).first()
    if existing is not None:
        return existing
    locked = StudyLink.objects.select_for_update().get(id=link.id)
    if locked.paused:
        raise ApplicationError("This study is paused.", code="study_paused")
    existing = StudyWorker.objects.filter(link=link, worker_id=arrival.worker_id).first()
    if existing is not None:
        return existing
    if StudyWorker.objects.filter(link=link).count() >= locked.max_workers:
        raise ApplicationError("This study is full.", code="study_full")
    user = _account(link, arrival.worker_id)
    if not user.memberships.filter(project_id=link.project_id).exists():
        membership_set(project=link.project, user=user, role=Role.ANNOTATOR)
    return StudyWorker.objects.create(
        link=link,
        worker_id=arrival.worker_id,
        study_id=arrival.study_id,
        session_id=arrival.session_id,
        user=user,
    )


def study_worker_consent(*, worker: StudyWorker, now: datetime | None = None) -> None:
    if worker.consented_at is None:
        worker.consented_at = now or timezone.now()
        worker.save(update_fields=["consented_at"])


# --- the stream ------------------------------------------------------------------------------


def study_in_training(worker: StudyWorker) -> bool:
    return worker.link.training_items > 0 and worker.training_passed is None


def study_claim_next(*, worker: StudyWorker, render: bool = True) -> Assignment | None:
    """The worker's next item: a training item, else an item of the main stream (a gold item
    as attention check at the link's rate). Finishes the worker and returns None when the
    quota is reached, the training round has no gold item left, or nothing is left."""
    link = worker.link
    if worker.status != StudyWorker.Status.ACTIVE:
        return None
    if study_in_training(worker):
        assignment = assignment_claim_next(
            project=link.project, annotator=worker.user, render=render, gold_only=True
        )
        if assignment is None:
            # Fewer gold items than the training round asks for: judge on those answered.
            _training_end(worker)
            return study_claim_next(worker=worker, render=render)
        return assignment
    if worker.items_done >= link.quota:
        _finish(worker)
        return None
    assignment = assignment_claim_next(
        project=link.project, annotator=worker.user, render=render, gold_rate=link.attention_rate
    )
    if assignment is None:
        _finish(worker)
    return assignment


@dataclass(frozen=True, slots=True)
class StudySubmitResult:
    training: bool  # the item was part of the training round
    correct: bool | None  # for gold items: whether the answer matched
    worker: StudyWorker


@transaction.atomic
def study_submit(
    *,
    worker: StudyWorker,
    assignment: Assignment,
    labels: Mapping[str, Any],
    client_token: str = "",
    active_ms: int | None = None,
) -> StudySubmitResult:
    """Submit the worker's labels for their assignment and count it (training, attention
    check or ordinary item). Raises ApplicationError for invalid labels, another's
    assignment, or a worker who has finished."""
    if assignment.annotator_id != worker.user_id or assignment.project_id != worker.link.project_id:
        raise ApplicationError("No such assignment.", code="not_found", field="assignment")
    locked = StudyWorker.objects.select_for_update().select_related("link").get(id=worker.id)
    if locked.status != StudyWorker.Status.ACTIVE:
        raise ApplicationError("You have finished this study.", code="finished")
    training = study_in_training(locked)
    annotation, created = annotation_submit_created(
        assignment=assignment, labels=labels, client_token=client_token, active_ms=active_ms
    )
    correct = annotation_matches_gold(annotation=annotation) if assignment.item.is_gold else None
    if created:
        right = int(bool(correct))
        if training:
            StudyWorker.objects.filter(id=locked.id).update(
                training_done=F("training_done") + 1,
                training_correct=F("training_correct") + right,
            )
        else:
            gold = int(correct is not None)
            StudyWorker.objects.filter(id=locked.id).update(
                items_done=F("items_done") + 1,
                gold_total=F("gold_total") + gold,
                gold_correct=F("gold_correct") + right,
            )
        locked.refresh_from_db()
        if training and locked.training_done >= locked.link.training_items:
            _training_end(locked)
        elif not training and locked.items_done >= locked.link.quota:
            _finish(locked)
    _copy(locked, worker)
    return StudySubmitResult(training=training, correct=correct, worker=worker)


def _copy(src: StudyWorker, dst: StudyWorker) -> None:
    if src is not dst:
        for f in StudyWorker._meta.concrete_fields:
            setattr(dst, f.attname, getattr(src, f.attname))


def _share_right(correct: int, total: int) -> float:
    return correct / total if total else 1.0


def _training_end(worker: StudyWorker) -> None:
    """Judge the training round: passed, or stopped with the code marked for rejection."""
    link = worker.link
    passed = _share_right(worker.training_correct, worker.training_done) >= link.pass_mark
    worker.training_passed = passed
    fields = ["training_passed"]
    if not passed:
        worker.status = StudyWorker.Status.FAILED
        worker.finished_at = timezone.now()
        worker.completion_code = link.failure_code or link.completion_code
        fields += ["status", "finished_at", "completion_code"]
    worker.save(update_fields=fields)


def _finish(worker: StudyWorker) -> None:
    """The worker is done: completed, or rejected when their attention checks fell under the
    pass mark."""
    if worker.status != StudyWorker.Status.ACTIVE:
        return
    link = worker.link
    good = _share_right(worker.gold_correct, worker.gold_total) >= link.pass_mark
    worker.status = StudyWorker.Status.COMPLETED if good else StudyWorker.Status.REJECTED
    worker.finished_at = timezone.now()
    worker.completion_code = (
        link.completion_code if good else (link.failure_code or link.completion_code)
    )
    worker.save(update_fields=["status", "finished_at", "completion_code"])
