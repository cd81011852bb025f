"""Retries, backoff and timeouts, through a proxy that injects faults in front of the live
server (the app itself answers every request that gets through)."""

from __future__ import annotations

import pytest
from stepwise_client import ApiError, Client, ConnectionFailed, ServerError, ValidationError


@pytest.fixture
def project(make_project, manager):
    return make_project("step_labels", slug="retry", manager=manager)


def test_reads_are_retried_through_503_and_429(connect, manager, project, proxy):
    client = connect(manager, url=proxy.url, retries=3)
    proxy.faults = [("status", 503), ("status", 429)]
    assert [p.slug for p in client.projects()] == ["retry"]
    assert proxy.seen[("GET", "/api/v1/projects/")] == 3


def test_a_read_gives_up_after_the_retries(connect, manager, project, proxy):
    client = connect(manager, url=proxy.url, retries=2)
    proxy.faults = [("status", 502)] * 3
    with pytest.raises(ServerError) as err:
        client.project("retry")
    assert err.value.status == 502
    assert err.value.detail == "injected by the test proxy"
    assert proxy.seen[("GET", "/api/v1/projects/retry/")] == 3


def test_a_write_is_not_repeated_after_a_500(live_server, manager, proxy):
    proxy.faults = [("status", 500)]
    with pytest.raises(ServerError):
        Client.login(proxy.url, manager.username, "pw-maria", retries=3)
    assert proxy.seen[("POST", "/api/v1/auth/token/")] == 1


def test_a_write_refused_with_503_is_sent_again(live_server, manager, proxy):
    proxy.faults = [("status", 503)]
    client = Client.login(proxy.url, manager.username, "pw-maria", retries=3)
    assert client.token
    assert proxy.seen[("POST", "/api/v1/auth/token/")] == 2


def test_an_upload_is_sent_whole_again_on_retry(connect, manager, project, proxy, tmp_path):
    client = connect(manager, url=proxy.url, retries=2)
    path = tmp_path / "t.jsonl"
    path.write_text('{"external_id": "a", "steps": ["1+1=2"]}\n')
    proxy.faults = [("status", 503)]
    with pytest.raises(ValidationError) as err:
        client.import_file("retry", path, format="not-a-format")
    # The server read the whole second upload: only the format is wrong, the file is there.
    assert list(err.value.errors) == ["format"]
    assert proxy.seen[("POST", "/api/v1/projects/retry/imports/")] == 2


def test_a_slow_answer_times_out_and_a_read_is_retried(connect, manager, project, proxy):
    slow = connect(manager, url=proxy.url, retries=0, timeout=0.5)
    proxy.faults = [("delay", 2.0)]
    with pytest.raises(ConnectionFailed) as err:
        slow.projects()
    assert "ReadTimeout" in str(err.value)
    # Generous limits: the answer that is not delayed must arrive in time on a busy machine.
    patient = connect(manager, url=proxy.url, retries=1, timeout=3.0)
    proxy.faults = [("delay", 6.0)]
    assert [p.slug for p in patient.projects()] == ["retry"]
    assert proxy.seen[("GET", "/api/v1/projects/")] == 3


def test_a_redirect_is_not_followed_with_the_token(connect, manager, project, proxy):
    client = connect(manager, url=proxy.url)
    proxy.faults = [("redirect", "https://elsewhere.example/api/v1/projects/")]
    with pytest.raises(ApiError) as err:
        client.projects()
    assert err.value.status == 301
    assert "https://elsewhere.example/api/v1/projects/" in str(err.value)
    assert "server URL" in err.value.detail
