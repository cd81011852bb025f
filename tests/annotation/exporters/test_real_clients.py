"""Exports read by the real consumers: Hugging Face datasets, pyarrow, TRL trainers (one
optimisation step each with a tiny randomly initialised model and an offline tokenizer),
and the ProcessBench round trip."""

from __future__ import annotations

import copy

import pytest
from datasets import load_dataset

from tests.annotation.exporters.conftest import read_jsonl

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


def test_processbench_export_reproduces_the_imported_file(processbench_project, export):
    project, original = processbench_project
    manifest, out = export(project, "processbench", dedup=False)
    rows = read_jsonl(out / "processbench/train-00000-of-00001.jsonl")
    assert len(rows) == len(original) == manifest["counts"]["total"]
    by_id = {r["id"]: r for r in rows}
    for rec in original:
        assert by_id[rec["id"]] == rec  # every field, the label included
    assert [r["id"] for r in rows] == [r["id"] for r in original]
    assert "processbench-experts" in {a["name"] for a in manifest["annotators"]}


def test_counsel_chat_import_exports_before_anyone_labels(counsel_chat_project, export):
    manifest, out = export(counsel_chat_project, "trl_preference", test_size=0.1, seed=0)
    assert manifest["counts"]["total"] > 500
    assert manifest["final_label_sources"] == {"single": manifest["final_label_sources"]["single"]}
    assert [a["name"] for a in manifest["annotators"]] == ["counsel-chat-upvotes"]
    assert any("upvotes" in limit for limit in manifest["known_limits"])
    ds = load_dataset(
        "json",
        data_files={s: str(out / f"trl_preference/{s}-*.jsonl") for s in ("train", "test")},
    )
    assert ds["train"].num_rows + ds["test"].num_rows == manifest["counts"]["total"]
    assert set(ds["train"].column_names) >= {"prompt", "chosen", "rejected", "margin"}
    # best-vs-rest gives fewer, all with the same chosen answer per question
    m_best, _ = export(counsel_chat_project, "trl_preference", pairs="best_vs_rest")
    assert 0 < m_best["counts"]["total"] < manifest["counts"]["total"]


def _tiny_tokenizer(texts):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        texts,
        trainers.WordLevelTrainer(
            vocab_size=2000, special_tokens=["<pad>", "<unk>", "<s>", "</s>"]
        ),
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        unk_token="<unk>",
    )  # fmt: skip


def _llama_config(tokenizer, **kw):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, **kw,
    )  # fmt: skip


def _small_train(out, fmt: str, n: int = 8):
    ds = load_dataset("json", data_files=str(out / f"{fmt}/train-*.jsonl"), split="train")
    return ds.select(range(min(n, ds.num_rows)))


@pytest.mark.slow
def test_dpo_and_reward_trainer_take_a_step_on_the_counsel_chat_export(
    counsel_chat_project, export, tmp_path
):
    import torch
    from transformers import LlamaForCausalLM, LlamaForSequenceClassification
    from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer

    torch.manual_seed(0)
    _, out = export(counsel_chat_project, "trl_preference")
    train = _small_train(out, "trl_preference")
    texts = [r[k] for r in train for k in ("prompt", "chosen", "rejected")]
    tokenizer = _tiny_tokenizer(texts)
    common = {
        "max_steps": 1, "per_device_train_batch_size": 2, "report_to": [], "save_strategy": "no",
        "logging_steps": 1, "use_cpu": True, "max_length": 1024, "dataloader_num_workers": 0,
    }  # fmt: skip
    policy = LlamaForCausalLM(_llama_config(tokenizer))
    before = policy.model.embed_tokens.weight.detach().clone()
    dpo = DPOTrainer(
        model=policy,
        # A random model has no hub id to reload the reference from: pass a frozen copy.
        ref_model=copy.deepcopy(policy),
        args=DPOConfig(output_dir=str(tmp_path / "dpo"), **common),
        train_dataset=train,
        processing_class=tokenizer,
    )
    result = dpo.train()
    assert result.global_step == 1
    assert torch.isfinite(torch.tensor(result.training_loss))
    assert not torch.equal(before, policy.model.embed_tokens.weight.detach())

    rm = LlamaForSequenceClassification(_llama_config(tokenizer, num_labels=1))
    reward = RewardTrainer(
        model=rm,
        args=RewardConfig(output_dir=str(tmp_path / "rm"), **common),
        train_dataset=train,
        processing_class=tokenizer,
    )
    result = reward.train()
    assert result.global_step == 1
    assert torch.isfinite(torch.tensor(result.training_loss))


@pytest.mark.slow
def test_prm_trainer_takes_a_step_on_the_stepwise_export(processbench_project, export, tmp_path):
    import torch
    from transformers import LlamaForTokenClassification
    from trl.experimental.prm import PRMConfig, PRMTrainer

    torch.manual_seed(0)
    project, _ = processbench_project
    _, out = export(project, "trl_stepwise", mc_values=True)
    train = _small_train(out, "trl_stepwise")
    assert set(train.column_names) >= {"prompt", "completions", "labels", "mc_values"}
    texts = [r["prompt"] for r in train] + [s for r in train for s in r["completions"]]
    tokenizer = _tiny_tokenizer(texts)
    model = LlamaForTokenClassification(_llama_config(tokenizer, num_labels=2))
    trainer = PRMTrainer(
        model=model,
        args=PRMConfig(
            output_dir=str(tmp_path / "prm"),
            max_steps=1,
            per_device_train_batch_size=2,
            report_to=[],
            save_strategy="no",
            use_cpu=True,
            max_length=256,
            dataloader_num_workers=0,
        ),  # fmt: skip
        train_dataset=train,
        processing_class=tokenizer,
    )
    result = trainer.train()
    assert result.global_step == 1
    assert torch.isfinite(torch.tensor(result.training_loss))
