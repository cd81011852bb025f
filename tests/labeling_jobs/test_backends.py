"""Both backends on a tiny random Llama: real code paths, random text."""

import math

import pytest
import torch

from labeling_jobs.backends import BackendError, BackendUnavailable, SamplingParams, backend_get
from labeling_jobs.backends.base import normalise
from labeling_jobs.backends.openai_backend import OpenAIBackend
from tests.labeling_jobs.openai_server import ModelServer


@pytest.fixture
def tf(tiny_model_dir):
    return backend_get("transformers", tiny_model_dir)


def test_model_is_loaded_once_per_process(tiny_model_dir, tf):
    again = backend_get("transformers", tiny_model_dir)
    assert again.model is tf.model


def test_sample_returns_n_per_prompt_with_finish_reasons(tf):
    prompts = [tf.chat_prompt([{"role": "user", "content": "What is 2+3?"}], "Step 1:"), "Hi"]
    out = tf.sample(prompts, n=3, params=SamplingParams(max_new_tokens=6, temperature=1.0, seed=1))
    assert [len(x) for x in out] == [3, 3]
    for comps in out:
        for c in comps:
            assert c.finish_reason in ("stop", "length")
            assert 1 <= c.n_tokens <= 6
            assert (c.finish_reason == "length") == (c.n_tokens == 6 and c.finish_reason != "stop")
    assert tf.tokens_generated == sum(c.n_tokens for comps in out for c in comps)


def test_shared_prefix_sampling_equals_plain_generate(tf):
    """Greedy decoding through the shared-prefix path gives exactly what one plain
    `generate` per prompt gives: the cache expansion and left padding are right."""
    prompts = [
        "The answer is",
        tf.chat_prompt([{"role": "user", "content": "Is 4*3 = 12? Answer Yes or No."}]),
    ]
    shared = tf.sample(
        prompts, n=2, params=SamplingParams(max_new_tokens=5, temperature=1e-6, seed=0)
    )
    for prompt, comps in zip(prompts, shared, strict=True):
        enc = tf.tokenizer([prompt], return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            ref = tf.model.generate(
                **enc, do_sample=False, max_new_tokens=5, pad_token_id=tf.tokenizer.pad_token_id
            )
        text = tf.tokenizer.decode(ref[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        assert comps[0].text == comps[1].text == text


def test_greedy_is_batch_invariant(tf):
    prompts = ["What is 2", "A much longer prompt about therapist and client turns"]
    together = tf.greedy(prompts, max_new_tokens=4)
    alone = [tf.greedy([p], max_new_tokens=4)[0] for p in prompts]
    assert [c.text for c in together] == [c.text for c in alone]


def test_next_token_logprobs_are_log_probabilities(tf):
    prompts = ["Is it right? Answer Yes or No.", "x"]
    out = tf.next_token_logprobs(prompts, ["Yes", "No"])
    assert len(out) == 2
    for lp in out:
        assert set(lp) == {"Yes", "No"}
        assert all(v < 0 for v in lp.values())
        assert sum(normalise(lp).values()) == pytest.approx(1.0)
    alone = tf.next_token_logprobs(prompts[:1], ["Yes", "No"])[0]
    assert alone["Yes"] == pytest.approx(out[0]["Yes"], abs=1e-4)  # left padding is masked


def test_unknown_model_path_is_a_backend_error(tmp_path):
    with pytest.raises(BackendError):
        backend_get("transformers", str(tmp_path / "missing.gguf"))


@pytest.fixture
def server(tiny_model_dir):
    with ModelServer(tiny_model_dir) as srv:
        yield srv


def test_openai_backend_against_a_real_model_server(server, tf):
    be = OpenAIBackend(
        "tiny", base_url=server.url, api_key="k", concurrency=2, backoff_seconds=0.01
    )
    prompt = tf.chat_prompt([{"role": "user", "content": "Is 2+3 = 5? Answer Yes or No."}])
    out = be.sample(
        [prompt, "Hi"], n=3, params=SamplingParams(max_new_tokens=5, temperature=1.0, seed=3)
    )
    assert [len(x) for x in out] == [3, 3]
    assert all(c.finish_reason in ("stop", "length") for x in out for c in x)
    assert be.tokens_generated > 0
    greedy = be.greedy([prompt], max_new_tokens=4)[0]
    assert greedy.text == tf.greedy([prompt], max_new_tokens=4)[0].text
    # Log-probabilities come from the server's top-k and agree with the local model.
    remote = be.next_token_logprobs([prompt], ["Yes", "No"])[0]
    local = tf.next_token_logprobs([prompt], ["Yes", "No"])[0]
    for cand in ("Yes", "No"):
        assert math.isfinite(remote[cand])
        assert remote[cand] >= local[cand] - 1e-4  # top-k match or the floor (an upper bound)


def test_openai_backend_retries_429_and_5xx_then_succeeds(server):
    sleeps = []
    be = OpenAIBackend("tiny", base_url=server.url, backoff_seconds=0.5, sleep=sleeps.append)
    server.fail_next = [429, 503]
    out = be.greedy(["Hi"], max_new_tokens=2)
    assert len(out) == 1
    assert be.requests_retried == 2
    assert sleeps[0] >= 0.5
    assert sleeps[1] >= 1.0


def test_openai_backend_gives_up_with_the_named_transient_error(server):
    be = OpenAIBackend("tiny", base_url=server.url, max_retries=2, sleep=lambda s: None)
    server.fail_next = [503] * 5
    with pytest.raises(BackendUnavailable, match="HTTP 503 after 3 attempts"):
        be.greedy(["Hi"], max_new_tokens=2)


def test_openai_backend_connection_refused_is_transient():
    be = OpenAIBackend(
        "tiny",
        base_url="http://127.0.0.1:9/v1",
        max_retries=1,
        sleep=lambda s: None,
        timeout_seconds=2,
    )
    with pytest.raises(BackendUnavailable):
        be.greedy(["Hi"], max_new_tokens=2)


def test_openai_backend_client_error_is_not_retried(server):
    server.fail_next = [400]
    be = OpenAIBackend("tiny", base_url=server.url, sleep=lambda s: pytest.fail("no retry"))
    with pytest.raises(BackendError) as info:
        be.greedy(["Hi"], max_new_tokens=2)
    assert not isinstance(info.value, BackendUnavailable)


@pytest.mark.django_db
def test_a_job_on_the_openai_backend(server, step_project, settings):
    from annotation.models import Suggestion
    from labeling_jobs.services import labeling_job_create, labeling_job_run_inline

    settings.STEPWISE_OPENAI_BASE_URL = server.url
    project = step_project(n=2)
    job = labeling_job_create(
        project=project, kind="step_judge", backend="openai", model_name="tiny",
        params={"mode": "verify"}, enqueue=False,
    )  # fmt: skip
    job = labeling_job_run_inline(job=job)
    assert job.status == "succeeded", job.error
    rows = Suggestion.objects.filter(job_id=job.id).exclude(target="item")
    assert rows.count() == 5
    assert all(0 <= s.score <= 1 and s.model_name == "tiny" for s in rows)
    # a server that stays down fails the job with the transient error's message
    server.fail_next = [503] * 50
    settings.STEPWISE_OPENAI_BASE_URL = server.url
    job = labeling_job_create(project=project, kind="step_judge", backend="openai", model_name="tiny",
                              params={"mode": "verify"}, enqueue=False)  # fmt: skip
    from unittest import mock

    with mock.patch("labeling_jobs.backends.openai_backend.time.sleep"):
        job = labeling_job_run_inline(job=job)
    assert job.status == "failed"
    assert "backend unavailable" in job.error
    assert "HTTP 503" in job.error
