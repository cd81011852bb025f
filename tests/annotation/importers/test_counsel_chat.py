import csv
import io
from collections import defaultdict
from pathlib import Path

from annotation.importers import importer_get
from annotation.importers.base import (
    ImportIssue,
    ParsedItem,
    ParsedPreference,
    SkippedRecord,
)
from annotation.models import Annotation, Candidate, Item, PreferenceLabel
from annotation.services.imports import dataset_import
from tests.conftest import shared_file

HEADER = [
    "", "questionID", "questionTitle", "questionText", "questionLink", "topic", "therapistInfo",
    "therapistURL", "answerText", "upvotes", "views", "split",
]  # fmt: skip


def _row(n, qid, answer, upvotes, views="10", title=None, text="What should I do?"):
    return [str(n), qid, title or f"Question {qid}", text, f"https://counselchat.com/q/{qid}",
            "anxiety", f"Therapist {n}, LMFT", f"https://counselchat.com/t/{n}", answer,
            str(upvotes), views, "train"]  # fmt: skip


# Question 10 has three answers (upvotes 2, 0, 2), question 11 one, question 12 two answers
# that are not adjacent in the file (upvotes 0 then 5).
ROWS = [
    _row(0, "10", "Breathe slowly.", 2),
    _row(1, "10", "See a doctor.", 0),
    _row(2, "12", "Talk to them.", 0, text=""),
    _row(3, "11", "Keep a journal.", 1),
    _row(4, "10", "Try exercise.", 2),
    _row(5, "12", "Write it down first.", 5),
]


def _csv(rows, header=HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _parse(data: bytes, options=None):
    return list(
        importer_get("counsel_chat").parse(
            io.BytesIO(data), options=options or {}, max_line_bytes=10_000
        )
    )


def test_parse_groups_answers_by_question():
    events = _parse(_csv(ROWS))
    items = [e for e in events if isinstance(e, ParsedItem)]
    skipped = [e for e in events if isinstance(e, SkippedRecord)]
    assert not [e for e in events if isinstance(e, ImportIssue)]
    assert [i.external_id for i in items] == ["counselchat-10", "counselchat-12"]
    q10, q12 = items
    assert q10.group_key == "counselchat-10"
    assert q10.line == 2
    assert q10.prompt == "Question 10\n\nWhat should I do?"
    assert q12.prompt == "Question 12"  # empty questionText
    assert q10.metadata == {
        "topic": "anxiety",
        "questionLink": "https://counselchat.com/q/10",
        "split": "train",
    }
    assert [c.text for c in q10.candidates] == ["Breathe slowly.", "See a doctor.", "Try exercise."]
    assert q10.candidates[0].source_model == ""
    assert q10.candidates[0].metadata == {
        "therapist": "Therapist 0, LMFT",
        "therapist_url": "https://counselchat.com/t/0",
        "upvotes": 2,
        "views": 10,
    }
    (ann,) = q10.annotations
    assert ann.annotator == "counsel-chat-upvotes"
    # the tie (answers 0 and 2) gives no pair
    assert ann.preferences == [ParsedPreference(0, 1, -1, -2.0), ParsedPreference(1, 2, 1, 2.0)]
    assert q12.annotations[0].preferences == [ParsedPreference(0, 1, 1, 5.0)]
    assert [(s.line, s.reason) for s in skipped] == [
        (5, "question counselchat-11 has only one answer")
    ]


def test_min_upvote_margin_option():
    events = _parse(_csv(ROWS), {"min_upvote_margin": 3})
    q10, q12 = [e for e in events if isinstance(e, ParsedItem)]
    assert q10.annotations == []  # no pair differs by 3 or more
    assert q12.annotations[0].preferences == [ParsedPreference(0, 1, 1, 5.0)]


def test_bad_min_upvote_margin_is_reported():
    (issue,) = _parse(_csv(ROWS), {"min_upvote_margin": 0})
    assert (issue.line, issue.field) == (None, "min_upvote_margin")


def test_parse_reports_bad_counts_with_row_and_field():
    rows = [
        *ROWS[:2],
        _row(6, "13", "Rest.", "many"),
        _row(7, "13", "Sleep.", 1, views="1.5k"),
        _row(8, "13", "", 1),
        _row(9, "", "Hm.", 1),
    ]
    events = _parse(_csv(rows))
    issues = [e for e in events if isinstance(e, ImportIssue)]
    assert [(i.line, i.unit, i.field) for i in issues] == [
        (4, "row", "upvotes"),
        (5, "row", "views"),
        (6, "row", "answerText"),
        (7, "row", "questionID"),
    ]
    assert "'many'" in issues[0].message


def test_parse_reports_missing_column():
    header = [h for h in HEADER if h != "upvotes"]
    rows = [r[:9] + r[10:] for r in ROWS]
    (issue,) = _parse(_csv(rows, header))
    assert (issue.line, issue.field) == (1, "upvotes")


def test_import_writes_candidates_and_upvote_pairs(make_project, tmp_path: Path):
    project = make_project("preference")
    path = tmp_path / "counsel.csv"
    path.write_bytes(_csv(ROWS))
    with open(path, "rb") as fh:
        result = dataset_import(project=project, dataset_name="cc", fmt="counsel_chat", stream=fh)
    assert result.ok, result.errors
    assert (result.items_created, result.candidates_created, result.annotations_created) == (
        2,
        5,
        2,
    )
    assert result.records_skipped == 1
    assert Item.objects.filter(project=project).count() == 2
    assert Candidate.objects.filter(item__project=project).count() == 5
    prefs = PreferenceLabel.objects.filter(annotation__item__project=project)
    assert prefs.count() == 3
    q12 = prefs.get(annotation__item__external_id="counselchat-12")
    assert (q12.candidate_a.text, q12.candidate_b.text) == ("Talk to them.", "Write it down first.")
    assert (q12.strength, q12.margin) == (1, 5.0)
    with open(path, "rb") as fh:
        again = dataset_import(project=project, dataset_name="cc", fmt="counsel_chat", stream=fh)
    assert again.ok, again.errors
    assert (again.items_unchanged, again.items_created) == (2, 0)


def test_real_counsel_chat(make_project):
    path = shared_file("counsel_chat.csv")
    # a question is (questionID, questionLink): the file reuses 18 ids for different questions
    upvotes: dict[tuple[str, str], list[int]] = defaultdict(list)
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            upvotes[(row["questionID"], row["questionLink"])].append(int(row["upvotes"]))
    multi = {q: ups for q, ups in upvotes.items() if len(ups) >= 2}
    expected_candidates = sum(len(ups) for ups in multi.values())
    expected_pairs = sum(
        1
        for ups in multi.values()
        for i in range(len(ups))
        for j in range(i + 1, len(ups))
        if ups[i] != ups[j]
    )
    project = make_project("preference")
    with open(path, "rb") as fh:
        result = dataset_import(project=project, dataset_name="cc", fmt="counsel_chat", stream=fh)
    assert result.ok, result.errors
    assert Item.objects.filter(project=project).count() == len(multi) == 386
    assert result.records_skipped == len(upvotes) - 386
    assert Candidate.objects.filter(item__project=project).count() == expected_candidates
    anns = Annotation.objects.filter(
        item__project=project, annotator__username="counsel-chat-upvotes"
    )
    assert PreferenceLabel.objects.filter(annotation__in=anns).count() == expected_pairs
    with open(path, "rb") as fh:
        again = dataset_import(project=project, dataset_name="cc", fmt="counsel_chat", stream=fh)
    assert (again.items_unchanged, again.items_created) == (386, 0)


def test_reused_question_id_with_another_link_is_another_question():
    other = _row(6, "10", "A different question's answer.", 1)
    other[4] = "https://counselchat.com/questions/how-do-i-sleep"
    other2 = _row(7, "10", "Another answer to it.", 3)
    other2[4] = other[4]
    items = [e for e in _parse(_csv([*ROWS, other, other2])) if isinstance(e, ParsedItem)]
    by_id = {i.external_id: i for i in items}
    assert set(by_id) == {"counselchat-10-10", "counselchat-12", "counselchat-10-how-do-i-sleep"}
    assert [c.text for c in by_id["counselchat-10-how-do-i-sleep"].candidates] == [
        "A different question's answer.",
        "Another answer to it.",
    ]
    assert len(by_id["counselchat-10-10"].candidates) == 3
