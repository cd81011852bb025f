"""The client against the app's live server: typed reads, credentials, and each error status
as its own exception. These need no worker."""

from __future__ import annotations

import io
import json
import socket

import pytest
from stepwise_client import (
    AuthenticationError,
    Client,
    ConfigError,
    Dataset,
    NotFound,
    PermissionDenied,
    Project,
    ValidationError,
)
from stepwise_client.config import config_save

from annotation.models import Role
from annotation.services.imports import dataset_import
from annotation.services.projects import dataset_create


def _traces(n: int) -> io.BytesIO:
    recs = [{"external_id": f"t{i}", "prompt": f"What is {i}+{i}?",
             "steps": [f"{i}+{i} = {2 * i}.", f"The answer is {2 * i}."]} for i in range(n)]  # fmt: skip
    return io.BytesIO("".join(json.dumps(r) + "\n" for r in recs).encode())


@pytest.fixture
def project(make_project, manager):
    p = make_project("step_labels", slug="algebra", manager=manager)
    assert dataset_import(project=p, dataset_name="batch-1", fmt="native", stream=_traces(5)).ok
    return p


def test_info_says_who_the_token_belongs_to(sw, live_server):
    info = sw.info()
    assert (info.name, info.user) == ("Stepwise API", "maria")
    assert info.schema == f"{live_server.url}/api/v1/schema/"
    assert {r["name"] for r in info.resources} >= {"project-list", "export-download"}


def test_projects_and_datasets_are_typed(sw, project, make_project):
    make_project("preference", slug="not-mine")  # another manager's project
    projects = sw.projects()
    assert [type(p) for p in projects] == [Project]
    (p,) = projects
    assert (p.slug, p.kind, p.item_count) == ("algebra", "step_labels", 5)
    assert p.created_at is not None
    assert p.created_at.tzinfo is not None
    dataset_create(project=project, name="empty", created_by=project.created_by)
    by_name = {d.name: d for d in p.datasets()}
    assert set(by_name) == {"batch-1", "empty"}
    assert isinstance(by_name["batch-1"], Dataset)
    assert (by_name["batch-1"].item_count, by_name["batch-1"].source_format) == (5, "native")
    assert sw.get_dataset("algebra", by_name["empty"].id).item_count == 0


def test_items_are_read_page_by_page(sw, project):
    items = list(sw.items("algebra", page_size=2))
    assert [i.external_id for i in items] == [f"t{i}" for i in range(5)]
    assert items[3].step_texts == ["3+3 = 6.", "The answer is 6."]
    assert [i.id for i in items] == sorted(i.id for i in items)


def test_a_non_member_gets_not_found(connect, project, make_user):
    outsider = connect(make_user("olga"))
    assert outsider.projects() == []
    with pytest.raises(NotFound) as err:
        outsider.project("algebra")
    assert err.value.status == 404
    with pytest.raises(NotFound):
        outsider.datasets("no-such-project")


def test_a_role_without_the_right_gets_permission_denied(connect, project, member):
    annotator = connect(member(project, Role.ANNOTATOR))
    assert annotator.project("algebra").slug == "algebra"
    with pytest.raises(PermissionDenied) as err:
        annotator.imports("algebra")
    assert err.value.status == 403
    assert "role" in err.value.detail


def test_a_bad_token_is_an_authentication_error(live_server, project):
    client = Client(live_server.url, token="0" * 40, retries=0)
    with pytest.raises(AuthenticationError) as err:
        client.projects()
    assert err.value.status == 401
    assert "token" in err.value.detail.lower()


def test_field_errors_come_back_by_field(sw, project, tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"external_id": "a", "steps": ["x"]}\n')
    with pytest.raises(ValidationError) as err:
        sw.import_file("algebra", path, format="no-such-format")
    assert err.value.status == 400
    assert list(err.value.errors) == ["format"]
    assert "no-such-format" in err.value.errors["format"][0]
    assert "format:" in str(err.value)
    with pytest.raises(ValidationError) as err:
        sw.export("algebra", "processbench", test_size=5)
    assert list(err.value.errors) == ["options.test_size"]


def test_login_exchanges_a_password_for_a_token(live_server, make_user, project):
    user = make_user("maria2")
    project.memberships.create(user=user, role=Role.RESEARCHER)
    client = Client.login(live_server.url, "maria2", "pw-maria2")
    assert client.token
    assert client.info().user == "maria2"
    assert [p.slug for p in client.projects()] == ["algebra"]
    with pytest.raises(ValidationError) as err:
        Client.login(live_server.url, "maria2", "wrong")
    assert "non_field_errors" in err.value.errors


def test_credentials_from_environment_and_config_file(live_server, manager, token_for, monkeypatch):
    token = token_for(manager)
    with pytest.raises(ConfigError, match="STEPWISE_URL"):
        Client()
    monkeypatch.setenv("STEPWISE_URL", live_server.url)
    assert Client().token is None
    monkeypatch.setenv("STEPWISE_TOKEN", token)
    client = Client()
    assert (client.token, client.token_source, client.info().user) == (
        token,
        "environment",
        "maria",
    )

    monkeypatch.delenv("STEPWISE_TOKEN")
    monkeypatch.delenv("STEPWISE_URL")
    path = config_save(url=live_server.url + "/api/v1/", token=token)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    client = Client()
    assert (client.url, client.token_source, client.info().user) == (
        live_server.url, "config file", "maria",
    )  # fmt: skip
    # The saved token belongs to the saved server: another URL does not get it.
    other = Client("http://127.0.0.1:9")
    assert (other.token, other.token_source) == (None, "none")


def test_a_bad_url_is_a_config_error():
    with pytest.raises(ConfigError, match="http"):
        Client("ftp://example.org", token="x")


def test_unreachable_server_fails_after_retries():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    client = Client(f"http://127.0.0.1:{port}", token="x", retries=2, backoff=0.01)
    from stepwise_client import ConnectionFailed

    with pytest.raises(ConnectionFailed) as err:
        client.projects()
    assert err.value.attempts == 3
    assert "ConnectError" in str(err.value)
