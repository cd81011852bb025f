"""Every export format on small projects: shapes, options, files that real readers load."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from datasets import load_dataset

from annotation.errors import ApplicationError
from annotation.exporters import EXPORTERS, exporter_get
from annotation.exporters.base import options_validate, split_of
from annotation.models import Annotation, Item
from tests.annotation.exporters.conftest import read_jsonl


def _traces(n: int = 30) -> list[dict]:
    """Traces of 4 steps; 3 annotators on the first 24 (first-error labels), one on the rest."""
    recs = []
    for i in range(n):
        anns = []
        truth = (i % 5) - 1  # -1..3
        raters = 3 if i < 24 else 1
        for a in range(raters):
            fe = truth if (i + a) % 7 else (truth + 1 if truth < 3 else -1)
            ratings = [1 if fe == -1 or s < fe else (-1 if s == fe else None) for s in range(4)]
            if fe != 0 and i % 3 == 0:
                ratings[0] = 0  # a neutral first step
            anns.append({"annotator": f"rater-{a}", "step_ratings": ratings,
                         "finish_reason": "solution" if fe == -1 else "found_error"})  # fmt: skip
        recs.append({
            "external_id": f"trace-{i}", "group_key": f"problem-{i // 3}",
            "prompt": f"What is {i} + {i}?", "steps": [f"Step {s} of {i}" for s in range(4)],
            "final_answer": str(2 * i), "reference_answer": str(2 * i),
            "final_answer_correct": truth == -1, "annotations": anns,
        })  # fmt: skip
    return recs


@pytest.fixture
def steps_project(import_native):
    return import_native("step_labels", _traces(), slug="traces")


def test_registry_and_options():
    assert set(EXPORTERS) == {
        "trl_preference", "openai_preference", "helpsteer2", "trl_stepwise", "math_shepherd",
        "processbench", "prm800k", "label_studio",
    }  # fmt: skip
    with pytest.raises(ApplicationError, match="format: unknown export format"):
        exporter_get("csv")
    with pytest.raises(ApplicationError, match="options.ties"):
        options_validate({"ties": "keep"})
    with pytest.raises(ApplicationError, match="options.bogus"):
        options_validate({"bogus": 1})
    assert options_validate({})["file_format"] == "jsonl"


def test_trl_stepwise_final_labels_split_and_manifest(steps_project, export):
    manifest, out = export(steps_project, "trl_stepwise", test_size=0.3, seed=3)
    train = read_jsonl(out / "trl_stepwise/train-00000-of-00001.jsonl")
    test = read_jsonl(out / "trl_stepwise/test-00000-of-00001.jsonl")
    assert len(train) + len(test) == manifest["counts"]["total"] == 30
    for rec in train + test:
        assert set(rec) == {"prompt", "completions", "labels", "id", "source"}
        assert len(rec["completions"]) == len(rec["labels"])
        assert all(isinstance(x, bool) for x in rec["labels"])
        # truncated after the first error
        assert False not in rec["labels"][:-1]
    # no problem in both splits
    groups = {
        split: {f"problem-{int(r['id'].split('-')[1]) // 3}" for r in rows}
        for split, rows in (("train", train), ("test", test))
    }
    assert not groups["train"] & groups["test"]
    assert all(split_of(g, seed=3, test_size=0.3) == "test" for g in groups["test"])
    assert manifest["format_details"]["label_mapping"]["0"] is True
    assert manifest["counts"]["splits"] == {"train": len(train), "test": len(test)}
    sources = manifest["final_label_sources"]
    assert sources.get("single", 0) > 0
    assert sources.get("majority", 0) + sources.get("dawid_skene", 0) > 0
    assert {a["name"] for a in manifest["annotators"]} == {"rater-0", "rater-1", "rater-2"}
    assert manifest["agreement"]["fields"][0]["field"] == "step_rating"
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlicense: mit\n")
    assert "config_name: trl_stepwise" in card
    assert '"trl_stepwise/train-*"' in card
    assert "## Agreement" in card
    assert "## Known limits" in card
    assert json.loads((out / "manifest.json").read_text())["format"] == "trl_stepwise"
    ds = load_dataset(
        "json",
        data_files={"train": str(out / "trl_stepwise/train-*.jsonl"),
                    "test": str(out / "trl_stepwise/test-*.jsonl")},
    )  # fmt: skip
    assert ds["train"].num_rows == len(train)


def test_trl_stepwise_neutral_mapping_and_per_annotator(steps_project, export):
    m_true, out_true = export(steps_project, "trl_stepwise", labels="per_annotator", dedup=False)
    m_drop, out_drop = export(steps_project, "trl_stepwise", labels="per_annotator",
                              neutral="drop", dedup=False)  # fmt: skip
    m_false, _ = export(steps_project, "trl_stepwise", labels="per_annotator", neutral="false",
                        dedup=False)  # fmt: skip
    assert m_drop["format_details"]["label_mapping"]["0"] == "step dropped"
    assert m_false["format_details"]["label_mapping"]["0"] is False
    rows = read_jsonl(out_true / "trl_stepwise/train-00000-of-00001.jsonl")
    assert len(rows) == 24 * 3 + 6
    assert {r["source"] for r in rows} == {"rater-0", "rater-1", "rater-2"}
    dropped = read_jsonl(out_drop / "trl_stepwise/train-00000-of-00001.jsonl")
    assert sum(len(r["completions"]) for r in dropped) < sum(len(r["completions"]) for r in rows)
    assert m_false["format_details"]["step_labels"]["false"] > m_true["format_details"][
        "step_labels"
    ].get("false", 0)


def test_min_confidence_agreement_and_balance(steps_project, export):
    m_all, _ = export(steps_project, "trl_stepwise")
    m_conf, _ = export(steps_project, "trl_stepwise", min_confidence=0.9)
    assert m_conf["counts"]["total"] < m_all["counts"]["total"]
    assert m_conf["counts"]["dropped"]["min_confidence"] > 0
    m_agree, _ = export(steps_project, "trl_stepwise", min_agreement=1.0)
    # single-annotator items have no agreement and are left out with a minimum
    assert m_agree["counts"]["total"] <= 24
    m_bal, _ = export(steps_project, "trl_stepwise", balance=True, seed=1)
    labels = m_bal["counts"]["labels"]["train"]
    assert abs(labels.get("positive", 0) - labels.get("negative", 0)) <= max(
        3, m_all["counts"]["total"] // 4
    )
    assert m_bal["counts"]["dropped"].get("balance", 0) > 0


def test_mc_values_column_and_parquet(steps_project, export):
    from annotation.models import Step, Suggestion

    item = Item.objects.get(project=steps_project, external_id="trace-0")
    for step in Step.objects.filter(item=item):
        Suggestion.objects.create(item=item, step=step, target=f"step:{step.index}",
                                  method="mc", model_name="m", score=0.25 * step.index)  # fmt: skip
    manifest, out = export(steps_project, "trl_stepwise", mc_values=True, file_format="parquet",
                           row_group_size=100)  # fmt: skip
    table = pq.read_table(out / "trl_stepwise/train-00000-of-00001.parquet")
    assert table.num_rows == manifest["counts"]["total"]
    rows = {r["id"]: r for r in table.to_pylist()}
    assert rows["trace-0"]["mc_values"][:2] == [0.0, 0.25]
    assert table.schema.field("labels").type.value_type.id == 1  # bool
    assert (
        "mc_values" in manifest["format_details"]["mc_values"] or manifest["options"]["mc_values"]
    )


def test_math_shepherd_and_prm800k(steps_project, export):
    _, out = export(steps_project, "math_shepherd", step_tag="ки", task="GSM8K")
    rows = read_jsonl(out / "math_shepherd/train-00000-of-00001.jsonl")
    for r in rows:
        assert r["task"] == "GSM8K"
        assert "ки" not in r["label"]
        assert r["input"].count("ки") == r["input"].count("\n") + 1
        restored = r["label"].replace(" +\n", " ки\n").replace(" -\n", " ки\n")
        restored = restored[:-1] + "ки" if restored.endswith(("+", "-")) else restored
        assert restored == r["input"]
        assert "Step 1: Step 0 of" in r["input"]
    _, out = export(steps_project, "prm800k", labels="per_annotator", dedup=False)
    rows = read_jsonl(out / "prm800k/train-00000-of-00001.jsonl")
    first = rows[0]
    assert set(first) >= {"labeler", "question", "label", "is_quality_control_question"}
    step = first["label"]["steps"][0]
    assert step["chosen_completion"] == 0
    assert step["completions"][0]["rating"] in (-1, 0, 1)
    assert first["label"]["finish_reason"] in ("solution", "found_error")
    _, out_pq = export(steps_project, "prm800k", file_format="parquet")
    assert pq.read_table(out_pq / "prm800k/train-00000-of-00001.parquet").num_rows > 0
    load_dataset("json", data_files=str(out / "prm800k/train-*.jsonl"))


def test_adjudication_and_gold_outrank_annotators(steps_project, export, make_user):
    from annotation.services.gold import item_gold_set

    item = Item.objects.get(project=steps_project, external_id="trace-1")  # truth fe = 0
    manager = make_user()
    item_gold_set(item=item, user=manager, labels={"first_error_index": -1})
    _, out = export(steps_project, "processbench")
    rows = {r["id"]: r for r in read_jsonl(out / "processbench/train-00000-of-00001.jsonl")}
    assert rows["trace-1"]["label"] == -1
    assert Annotation.objects.filter(item=item, source="gold").count() == 1


def _pref_records() -> list[dict]:
    recs = []
    for i in range(12):
        anns = []
        for a in range(3):
            s = [2, 1, 3][a] if i % 4 else (0 if a < 2 else -1)
            anns.append({
                "annotator": f"judge-{a}",
                "preferences": [{"a": 0, "b": 1, "strength": s},
                                {"a": 1, "b": 2, "strength": -1 if a else 1}],
                "principle_ratings": [{"principle": "empathy", "candidate": 0, "value": 3 + a % 2},
                                      {"principle": "empathy", "candidate": 1, "value": 4}],
                "justification": f"@Response 2 is better ({a})",
            })  # fmt: skip
        rec = {"external_id": f"pair-{i}", "group_key": f"q-{i}",
               "candidates": [{"text": f"answer A{i}"}, {"text": f"answer B{i}"},
                              {"text": f"answer C{i}"}],
               "annotations": anns}  # fmt: skip
        if i % 2:
            rec["turns"] = [{"speaker": "client", "text": f"I feel low {i}"},
                            {"speaker": "therapist", "text": "Tell me more."},
                            {"speaker": "client", "text": "It started last week."}]  # fmt: skip
        else:
            rec["prompt"] = f"Question {i}?"
            rec["turns"] = [{"speaker": "client", "text": f"Question {i}?"}]
        recs.append(rec)
    return recs


def test_preference_formats(import_native, export):
    project = import_native("preference", _pref_records(), slug="prefs")
    m, out = export(project, "trl_preference", ties="separate")
    rows = read_jsonl(out / "trl_preference/train-00000-of-00001.jsonl")
    ties = read_jsonl(out / "trl_preference/ties-00000-of-00001.jsonl")
    assert m["format_details"]["conversational"] is True
    assert all(
        isinstance(r["prompt"], list) and r["chosen"][0]["role"] == "assistant" for r in rows
    )
    assert all(r["margin"] == 0 for r in ties)
    assert len(ties) == 3
    first = next(
        r for r in rows if r["id"] == "pair-1" and r["chosen"][0]["content"] == "answer B1"
    )
    assert first["rejected"][0]["content"] == "answer A1"
    assert first["margin"] == 2.0
    m_best, out_best = export(project, "trl_preference", pairs="best_vs_rest")
    best = [r for r in read_jsonl(out_best / "trl_preference/train-00000-of-00001.jsonl")
            if r["id"] == "pair-1"]  # fmt: skip
    assert len({r["chosen"][0]["content"] for r in best}) == 1
    m_std, out_std = export(project, "trl_preference", conversational="standard")
    assert all(isinstance(r["prompt"], str) for r in read_jsonl(
        out_std / "trl_preference/train-00000-of-00001.jsonl"))  # fmt: skip
    _, out_oa = export(project, "openai_preference")
    oa = read_jsonl(out_oa / "openai_preference/train-00000-of-00001.jsonl")
    assert set(oa[0]) == {"input", "preferred_output", "non_preferred_output"}
    assert len(oa[0]["preferred_output"]) == 1
    _, out_hs = export(project, "helpsteer2", ties="drop")
    hs = read_jsonl(out_hs / "helpsteer2/train-00000-of-00001.jsonl")
    row = next(r for r in hs if r["id"] == "pair-1" and r["response_2"] == "answer B1")
    assert row["preference_strength"] == 2  # most similar triple of 2, 1, 3 → mean 2
    assert len(row["all_preferences_unprocessed"]) == 3
    assert row["response_1_principles"][0]["principle"] == "empathy"
    assert row["preference_statement"].startswith("@Response 2")
    for fmt, folder in (
        ("trl_preference", out),
        ("openai_preference", out_oa),
        ("helpsteer2", out_hs),
    ):
        load_dataset("json", data_files=str(folder / fmt / "train-*.jsonl"))
    _, out_pq = export(project, "helpsteer2", file_format="parquet")
    table = pq.read_table(out_pq / "helpsteer2/train-00000-of-00001.parquet")
    assert table.num_rows == len(hs)
    assert table.schema.field("response_1_principles").type.value_type.num_fields == 3


def test_consensus_labels_only_when_allowed(import_native, export, make_user):
    project = import_native("step_labels", _traces(3), slug="cons")
    bot = make_user("consensus-bot", kind="model")
    item = Item.objects.get(project=project, external_id="trace-0")
    Annotation.objects.create(item=item, annotator=bot, source="consensus", first_error_index=2)
    with pytest.raises(ApplicationError, match="options.include_consensus"):
        export(project, "processbench", include_consensus=True)
    project.allow_consensus_labels = True
    project.save()
    m, out = export(project, "processbench", include_consensus=True, labels="per_annotator",
                    dedup=False)  # fmt: skip
    rows = read_jsonl(out / "processbench/train-00000-of-00001.jsonl")
    assert any(r["annotator"] == "consensus-bot" for r in rows)
    assert "consensus" in m["label_sources"]
