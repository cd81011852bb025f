"""Fixtures for labeling-job tests: a tiny randomly initialised Llama with a byte-level BPE
tokenizer trained here (no download), and projects with a few items of each kind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from annotation.models import Candidate, Dataset, Item, Project, Step, Turn

CORPUS = [
    "The answer is: 18. Step 1: 16 - 3 - 4 = 9 eggs. She makes 9 * 2 = 18 dollars.",
    "Yes No A B reflection question therapist_input other change neutral sustain",
    "Is the last step correct? Answer Yes or No. Which response is better?",
    "therapist: How are you feeling today? client: I want to cut down on drinking.",
    "#### 42 \\boxed{3} paragraph solution problem -1 0 1 2 3 4 5 6 7 8 9",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_model(directory: Path, *, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        bos_token="<|im_start|>",
    )
    fast.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        # Make the end-of-turn token likely enough that some rollouts stop on their own.
        model.lm_head.weight[fast.eos_token_id] *= 0
        model.lm_head.weight[fast.eos_token_id] += 0.02
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny-llama")))


TRACES = [
    ("What is 2+3?", ["2+3 = 5.", "The answer is: 5"], "5", "5"),
    ("What is 4*3?", ["4*3 = 7.", "So we get 7.", "The answer is: 7"], "12", "7"),
    ("A box has 6 eggs; how many in 4 boxes?", ["6*4 = 24.", "The answer is: 24"], "24", "24"),
    ("No reference here", ["Some step.", "The answer is: 3"], "", "3"),
]


@pytest.fixture
def step_project(make_project) -> Callable[..., Project]:
    def make(n: int = 4, **kw: Any) -> Project:
        project = make_project("step_labels", **kw)
        ds = Dataset.objects.create(project=project, name="traces", source_format="native")
        for k in range(n):
            prompt, steps, ref, final = TRACES[k % len(TRACES)]
            item = Item.objects.create(
                dataset=ds, project=project, external_id=f"t{k}", prompt=prompt,
                reference_answer=ref, final_answer=final, content_hash=f"h{k}",
                metadata={"step_separator": "\n\n"},
            )  # fmt: skip
            Step.objects.bulk_create(Step(item=item, index=i, text=t) for i, t in enumerate(steps))
        return project

    return make


@pytest.fixture
def preference_project(make_project) -> Project:
    project = make_project("preference")
    ds = Dataset.objects.create(project=project, name="pairs", source_format="native")
    for k in range(2):
        item = Item.objects.create(
            dataset=ds,
            project=project,
            external_id=f"p{k}",
            prompt="I feel lonely.",
            content_hash=f"p{k}",
        )
        Candidate.objects.create(
            item=item, index=0, text="That sounds hard. What do you miss most?"
        )
        Candidate.objects.create(item=item, index=1, text="Just join a club.")
    return project


@pytest.fixture
def dialogue_project(make_project) -> Project:
    project = make_project("dialogue_coding")
    ds = Dataset.objects.create(project=project, name="dialogues", source_format="native")
    item = Item.objects.create(dataset=ds, project=project, external_id="d0", content_hash="d0")
    lines = [("therapist", "What brings you here?"), ("client", "I drink too much."),
             ("therapist", "You are worried about drinking."), ("client", "I want to stop.")]  # fmt: skip
    Turn.objects.bulk_create(
        Turn(item=item, index=i, speaker=s, text=t) for i, (s, t) in enumerate(lines)
    )
    return project
