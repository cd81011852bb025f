"""`GET /api/v1/` answers a JSON index of the API instead of a 404 page."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token


@pytest.fixture
def index(api_client, db):
    def get(**headers):
        response = api_client.get("/api/v1/", **headers)
        assert response.status_code == 200, response.content[:300]
        assert response["Content-Type"].startswith("application/json")
        return response.json()

    return get


def test_index_is_json_with_links_and_no_user_when_anonymous(index):
    body = index()
    assert body["name"] == "Stepwise API"
    assert body["version"]
    assert body["user"] is None
    assert body["schema"] == "http://testserver/api/v1/schema/"
    assert body["docs"] == "http://testserver/api/v1/docs/"
    assert body["projects"] == "http://testserver/api/v1/projects/"
    assert body["authentication"]["token_url"] == "http://testserver/api/v1/auth/token/"
    by_name = {r["name"]: r for r in body["resources"]}
    assert by_name["project-list"]["methods"] == ["GET", "POST"]
    assert by_name["import-detail"]["path"] == "/api/v1/projects/{slug}/imports/{id}/"
    assert by_name["job-list"]["path"] == "/api/v1/projects/{slug}/jobs/"
    assert by_name["export-download"]["methods"] == ["GET"]
    assert "agreement" in by_name["agreement"]["summary"].lower()


def test_index_names_the_token_owner(index, make_user):
    user = make_user("ines")
    token = Token.objects.create(user=user)
    assert index(HTTP_AUTHORIZATION=f"Token {token.key}")["user"] == "ines"


def test_index_refuses_a_bad_token(api_client, db):
    response = api_client.get("/api/v1/", HTTP_AUTHORIZATION="Token not-a-real-token")
    assert response.status_code == 401


def test_index_lists_exactly_the_schema_paths(index):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    listed = {r["path"] for r in index()["resources"]}
    # The schema and the HTML docs describe the API; they are not in the schema themselves.
    assert "/api/v1/" in schema["paths"]
    assert listed - {"/api/v1/schema/", "/api/v1/docs/"} == set(schema["paths"]) - {"/api/v1/"}
