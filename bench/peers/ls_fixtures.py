"""Files that Label Studio itself writes: a pairwise preference project and a dialogue-coding
project, each labeled by two users through Label Studio's REST API, then exported as JSON.

    python bench/peers/ls_fixtures.py tests/fixtures/label_studio    # rewrite the fixtures

The results are written as Label Studio's labeling interface writes them (Pairwise:
from_name = to_name, value.selected; Rating: value.rating; TextArea: value.text;
ParagraphLabels regions with paragraph indexes, and perRegion Choices/Rating results that
repeat the region's id and position). `go_back` imports a file into a fresh Label Studio
project and exports it again (a Stepwise export taken back to Label Studio).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.peers import ls_peer  # noqa: E402

PREFERENCE_CONFIG = """<View>
  <Header value="Which response helps the client more?"/>
  <Text name="prompt" value="$prompt"/>
  <Pairwise name="comparison" toName="answer1,answer2"/>
  <Text name="answer1" value="$answer1"/>
  <Text name="answer2" value="$answer2"/>
  <Rating name="empathy_answer1" toName="answer1" maxRating="5"/>
  <Rating name="empathy_answer2" toName="answer2" maxRating="5"/>
  <Choices name="safety_answer1" toName="answer1" choice="single">
    <Choice value="1"/><Choice value="2"/><Choice value="3"/><Choice value="4"/><Choice value="5"/>
  </Choices>
  <Choices name="safety_answer2" toName="answer2" choice="single">
    <Choice value="1"/><Choice value="2"/><Choice value="3"/><Choice value="4"/><Choice value="5"/>
  </Choices>
  <TextArea name="justification" toName="prompt" rows="3"/>
</View>
"""

DIALOGUE_CONFIG = """<View>
  <Paragraphs name="dialogue" value="$dialogue" layout="dialogue" nameKey="author" textKey="text"/>
  <ParagraphLabels name="main_therapist_behaviour" toName="dialogue">
    <Label value="reflection"/><Label value="question"/>
    <Label value="therapist_input"/><Label value="other"/>
  </ParagraphLabels>
  <ParagraphLabels name="client_talk_type" toName="dialogue">
    <Label value="change"/><Label value="neutral"/><Label value="sustain"/>
  </ParagraphLabels>
  <Choices name="confidence" toName="dialogue" perRegion="true">
    <Choice value="sure"/><Choice value="unsure"/>
  </Choices>
  <Rating name="empathy" toName="dialogue" perRegion="true" maxRating="5"/>
  <TextArea name="justification" toName="dialogue"/>
</View>
"""

PAIRS = [
    ("I have been feeling anxious before every exam and I can't sleep.",
     "That sounds exhausting. What goes through your mind in the nights before an exam?",
     "Just study more so you feel prepared, then you will sleep."),
    ("My partner says I never listen. I think I do.",
     "Tell me more about what happens when your partner says that.",
     "You should probably listen more then."),
    ("I want to cut down on drinking but weekends are hard.",
     "Weekends bring their own pull. What has helped on the weekends that went better?",
     "Stop drinking on weekends, it is that simple."),
]  # fmt: skip

DIALOGUES = [
    [("therapist", "What brings you here today?"),
     ("client", "My doctor said I should cut down on smoking."),
     ("therapist", "You're here because your doctor is worried."),
     ("client", "I guess I want to quit too, for my kids.")],
    [("therapist", "How was your week?"),
     ("client", "I didn't exercise at all. It's pointless."),
     ("therapist", "It felt like the effort wasn't worth it this week.")],
]  # fmt: skip

# Per annotator: (pairwise side, empathy 1/2, safety 1/2, justification) per pair.
PREFERENCE_LABELS = [
    [("left", 5, 2, 5, 3, "Response 1 reflects the feeling before advising."),
     ("left", 4, 1, 5, 4, "The first invites the client to say more."),
     ("right", 2, 3, 4, 4, "")],
    [("left", 4, 2, 4, 3, "The first one is empathic."),
     ("right", 3, 3, 4, 5, "The second is direct, which this client may need."),
     ("left", 5, 1, 5, 2, "Asking about what worked builds on strengths.")],
]  # fmt: skip

# Per annotator, per dialogue: (turn, field, code, confidence or None, empathy or None).
DIALOGUE_LABELS = [
    [[(0, "main_therapist_behaviour", "question", "sure", None),
      (1, "client_talk_type", "neutral", None, None),
      (2, "main_therapist_behaviour", "reflection", "sure", 4),
      (3, "client_talk_type", "change", "unsure", None)],
     [(0, "main_therapist_behaviour", "question", None, None),
      (1, "client_talk_type", "sustain", "sure", None),
      (2, "main_therapist_behaviour", "reflection", None, 5)]],
    [[(0, "main_therapist_behaviour", "question", "sure", None),
      (1, "client_talk_type", "sustain", None, None),
      (2, "main_therapist_behaviour", "therapist_input", "unsure", 2),
      (3, "client_talk_type", "change", "sure", None)],
     [(0, "main_therapist_behaviour", "other", None, None),
      (1, "client_talk_type", "sustain", None, None),
      (2, "main_therapist_behaviour", "reflection", "sure", 4)]],
]  # fmt: skip


def _preference_result(labels: tuple[Any, ...]) -> list[dict[str, Any]]:
    side, e1, e2, s1, s2, why = labels
    out: list[dict[str, Any]] = [
        {"from_name": "comparison", "to_name": "comparison", "type": "pairwise",
         "origin": "manual", "value": {"selected": side}},
        {"id": "e1", "from_name": "empathy_answer1", "to_name": "answer1", "type": "rating",
         "origin": "manual", "value": {"rating": e1}},
        {"id": "e2", "from_name": "empathy_answer2", "to_name": "answer2", "type": "rating",
         "origin": "manual", "value": {"rating": e2}},
        {"id": "s1", "from_name": "safety_answer1", "to_name": "answer1", "type": "choices",
         "origin": "manual", "value": {"choices": [str(s1)]}},
        {"id": "s2", "from_name": "safety_answer2", "to_name": "answer2", "type": "choices",
         "origin": "manual", "value": {"choices": [str(s2)]}},
    ]  # fmt: skip
    if why:
        out.append({"id": "j", "from_name": "justification", "to_name": "prompt",
                    "type": "textarea", "origin": "manual", "value": {"text": [why]}})  # fmt: skip
    return out


def _dialogue_result(turns: list[tuple[str, str]], labels: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for turn, fld, code, confidence, empathy in labels:
        text = turns[turn][1]
        where = {"start": str(turn), "end": str(turn), "startOffset": 0,
                 "endOffset": len(text), "text": text}  # fmt: skip
        rid = f"r{turn}{fld[:3]}"
        out.append({"id": rid, "from_name": fld, "to_name": "dialogue",
                    "type": "paragraphlabels", "origin": "manual",
                    "value": {**where, "paragraphlabels": [code]}})  # fmt: skip
        if confidence:
            out.append({"id": rid, "from_name": "confidence", "to_name": "dialogue",
                        "type": "choices", "origin": "manual",
                        "value": {**where, "choices": [confidence]}})  # fmt: skip
        if empathy:
            out.append({"id": rid, "from_name": "empathy", "to_name": "dialogue",
                        "type": "rating", "origin": "manual",
                        "value": {**where, "rating": empathy}})  # fmt: skip
    return out


class LabelStudioServer:
    """A fresh Label Studio (admin + two annotators) for the lifetime of a `with`."""

    def __init__(self, *, skip_install: bool = False, log: Path | None = None) -> None:
        self.skip_install = skip_install
        self.log = log
        self.proc = None

    def __enter__(self) -> LabelStudioServer:
        ls_peer.ensure_installed(skip_install=self.skip_install)
        data_dir = ls_peer.fresh_data_dir()
        emails = ["admin@ls.example", "ana@ls.example", "ben@ls.example"]
        users = self.users = ls_peer.create_users(data_dir, emails)
        port = ls_peer.free_port()
        self.proc = ls_peer.start(data_dir, port=port, log=self.log or data_dir / "server.log")
        base = f"http://{ls_peer.HOST}:{port}"
        self.clients = [
            httpx.Client(base_url=base, headers={"Authorization": f"Token {users[e]['token']}"},
                         timeout=120)
            for e in emails
        ]  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        for c in getattr(self, "clients", []):
            c.close()
        ls_peer.stop(self.proc)

    def call(self, who: int, method: str, path: str, **kwargs: Any) -> Any:
        r = self.clients[who].request(method, path, **kwargs)
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content and "json" in r.headers.get("content-type", "") else r

    def project(
        self, title: str, config: str, tasks: list[dict[str, Any]]
    ) -> tuple[int, list[int]]:
        pid = self.call(0, "POST", "/api/projects", json={"title": title, "label_config": config})[
            "id"
        ]
        out = self.call(0, "POST", f"/api/projects/{pid}/import", params={"return_task_ids": "true"},
                        files={"file": ("tasks.json", json.dumps(tasks).encode(), "application/json")})  # fmt: skip
        return pid, out.get("task_ids") or []

    def export(self, pid: int) -> list[dict[str, Any]]:
        r = self.clients[0].get(f"/api/projects/{pid}/export",
                                params={"exportType": "JSON", "download_all_tasks": "true"})  # fmt: skip
        r.raise_for_status()
        return json.loads(r.content)


def generate(out_dir: Path, *, skip_install: bool = False) -> dict[str, Any]:
    """Write {preference,dialogue}_{config.xml,export.json} into `out_dir`; returns counts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, Any] = {"label_studio_version": ls_peer.LS_VERSION}
    with LabelStudioServer(skip_install=skip_install) as ls:
        tasks = [{"data": {"prompt": p, "answer1": a, "answer2": b}} for p, a, b in PAIRS]
        pid, ids = ls.project("Preference (pairwise)", PREFERENCE_CONFIG, tasks)
        for who, per_task in enumerate(PREFERENCE_LABELS, start=1):
            for task_id, labels in zip(ids, per_task, strict=True):
                ls.call(who, "POST", f"/api/tasks/{task_id}/annotations/",
                        json={"result": _preference_result(labels), "lead_time": 21.5})  # fmt: skip
        pref = ls.export(pid)
        tasks = [
            {"data": {"dialogue": [{"author": s, "text": t} for s, t in d]}} for d in DIALOGUES
        ]
        did, dids = ls.project("Dialogue coding", DIALOGUE_CONFIG, tasks)
        for who, per_task in enumerate(DIALOGUE_LABELS, start=1):
            for task_id, turns, labels in zip(dids, DIALOGUES, per_task, strict=True):
                ls.call(who, "POST", f"/api/tasks/{task_id}/annotations/",
                        json={"result": _dialogue_result(turns, labels), "lead_time": 40.0})  # fmt: skip
        dia = ls.export(did)
    for name, config, export in (("preference", PREFERENCE_CONFIG, pref),
                                 ("dialogue", DIALOGUE_CONFIG, dia)):  # fmt: skip
        (out_dir / f"{name}_config.xml").write_text(config, encoding="utf-8")
        (out_dir / f"{name}_export.json").write_text(
            json.dumps(export, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        counts[name] = {
            "tasks": len(export),
            "annotations": sum(len(t["annotations"]) for t in export),
            "results": sum(len(a["result"]) for t in export for a in t["annotations"]),
        }
    return counts


def go_back(
    export_file: Path, config: str, *, skip_install: bool = False
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Import a Label Studio JSON file (a Stepwise export) into a fresh Label Studio project
    as its admin, then export that project: what Label Studio made of the file, and the
    Label Studio user ids by e-mail (annotations are matched to members by e-mail)."""
    with LabelStudioServer(skip_install=skip_install) as ls:
        created = ls.call(
            0, "POST", "/api/projects", json={"title": "back", "label_config": config}
        )
        pid = created["id"]
        ls.call(0, "POST", f"/api/projects/{pid}/import",
                files={"file": ("back.json", export_file.read_bytes(), "application/json")})  # fmt: skip
        return ls.export(pid), {e: u["id"] for e, u in ls.users.items()}


if __name__ == "__main__":
    print(json.dumps(generate(Path(sys.argv[1]))))
