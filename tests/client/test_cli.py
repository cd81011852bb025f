"""The `stepwise` console script against the live server: the token comes from the
environment or the config file `stepwise login` writes, never from the command line."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from stepwise_client.cli import main
from stepwise_client.config import config_load

from annotation.services.imports import dataset_import

SCRIPT = Path(sys.executable).parent / "stepwise"


def _jsonl(records) -> io.BytesIO:
    return io.BytesIO("".join(json.dumps(r) + "\n" for r in records).encode())


@pytest.fixture
def project(make_project, manager):
    p = make_project("step_labels", slug="cli-steps", manager=manager)
    records = [
        {"external_id": f"t{i}", "prompt": f"{i}+1?", "steps": [f"{i}+1={i + 1}", "done"],
         "annotations": [{"annotator": "rater-a", "first_error_index": -1 if i % 2 else 0},
                         {"annotator": "rater-b", "first_error_index": -1 if i % 3 else 0}]}
        for i in range(6)
    ]  # fmt: skip
    assert dataset_import(project=p, dataset_name="seed", fmt="native", stream=_jsonl(records)).ok
    return p


@pytest.fixture
def env(live_server, manager, token_for, monkeypatch):
    monkeypatch.setenv("STEPWISE_URL", live_server.url)
    monkeypatch.setenv("STEPWISE_TOKEN", token_for(manager))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_projects_and_datasets(env, project, capsys):
    code, out, _ = run(capsys, "projects")
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["slug", "kind", "item_count", "name"]
    assert row.split()[:3] == ["cli-steps", "step_labels", "6"]
    code, out, _ = run(capsys, "projects", "--json")
    assert [p["slug"] for p in json.loads(out)] == ["cli-steps"]
    code, out, _ = run(capsys, "datasets", "--project", "cli-steps")
    assert code == 0
    assert out.splitlines()[1].split()[1:4] == ["seed", "native", "6"]


def test_agreement_table(env, project, capsys):
    code, out, _ = run(capsys, "agreement", "--project", "cli-steps", "--fresh",
                       "--field", "first_error_index")  # fmt: skip
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["field", "level"]
    assert lines[1].split()[0] == "first_error_index"
    assert "computed now" in out
    code, out, _ = run(capsys, "agreement", "--project", "cli-steps", "--fresh", "--json")
    assert {f["field"] for f in json.loads(out)["fields"]} >= {"first_error_index"}


def test_errors_exit_with_a_reason(env, project, capsys, monkeypatch):
    code, _, err = run(capsys, "datasets", "--project", "nope")
    assert code == 1
    assert "404" in err
    code, _, err = run(capsys, "import", "--project", "cli-steps", "missing.jsonl",
                       "--format", "native")  # fmt: skip
    assert code == 2
    assert "no such file" in err
    code, _, err = run(capsys, "export", "--project", "cli-steps", "--format", "trl_stepwise",
                       "--out", "x", "--option", "test_size")  # fmt: skip
    assert code == 2
    assert "NAME=VALUE" in err
    monkeypatch.delenv("STEPWISE_TOKEN")
    code, _, err = run(capsys, "projects")
    assert code == 2
    assert "STEPWISE_TOKEN" in err
    assert "stepwise login" in err


def test_login_prompts_for_the_password_and_saves_the_token(live_server, manager, project,
                                                             capsys, monkeypatch):  # fmt: skip
    prompts = []

    def fake_getpass(prompt: str) -> str:  # the terminal, not the server, is replaced
        prompts.append(prompt)
        return "pw-maria"

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    code, out, err = run(capsys, "login", "--url", live_server.url, "--username", "maria")
    assert code == 0, err
    assert prompts == [f"Password for maria at {live_server.url}: "]
    saved = config_load()
    assert saved["url"] == live_server.url
    assert len(saved["token"]) == 40
    code, out, _ = run(capsys, "projects", "--json")  # no env: the config file is enough
    assert code == 0
    assert [p["slug"] for p in json.loads(out)] == ["cli-steps"]
    monkeypatch.setattr("getpass.getpass", lambda prompt: "wrong")
    code, _, err = run(capsys, "login", "--url", live_server.url, "--username", "maria")
    assert code == 1
    assert "Unable to log in" in err


def test_the_installed_script_logs_in_from_stdin(live_server, manager, project, tmp_path):
    assert SCRIPT.is_file(), "the stepwise console script is not installed (pip install ./client)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPWISE_")}
    env["STEPWISE_CONFIG"] = str(tmp_path / "cfg.toml")
    login = subprocess.run(
        [str(SCRIPT), "login", "--url", live_server.url, "--username", "maria",
         "--password-stdin"], input="pw-maria\n", env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    assert "pw-maria" not in (tmp_path / "cfg.toml").read_text()
    listed = subprocess.run([str(SCRIPT), "projects", "--json"], env=env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert [p["slug"] for p in json.loads(listed.stdout)] == ["cli-steps"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_import_job_and_export_verbs(env, project, worker, tiny_model, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"external_id": "x", "steps": ["a"]}\n{"external_id": "y"}\n')
    code, _, err = run(capsys, "import", "--project", "cli-steps", str(bad), "--format", "native")
    assert code == 1
    assert "import" in err
    assert "failed" in err
    assert "line 2" in err

    good = tmp_path / "more.jsonl"
    good.write_text("".join(json.dumps({"external_id": f"m{i}", "steps": [f"{i}"]}) + "\n"
                            for i in range(3)))  # fmt: skip
    code, out, err = run(capsys, "import", "--project", "cli-steps", str(good), "--format",
                         "native", "--dataset", "more")  # fmt: skip
    assert code == 0, err
    assert "succeeded: 3 items created" in out
    code, out, err = run(capsys, "import", "--project", "cli-steps", str(good), "--format",
                         "native", "--dataset", "more", "--json", "-q")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["items_unchanged"] == 3

    code, out, err = run(capsys, "job", "--project", "cli-steps", "--kind", "step_judge",
                         "--model", tiny_model, "--param", "mode=verify", "--limit", "2",
                         "--wait")  # fmt: skip
    assert code == 0, err
    assert "step_judge" in out
    assert "succeeded: 2/2" in out
    assert "2/2" in err  # the progress bar

    out_dir = tmp_path / "export"
    code, out, err = run(capsys, "export", "--project", "cli-steps", "--format", "processbench",
                         "--out", str(out_dir), "--option", "test_size=0.5", "-q")  # fmt: skip
    assert code == 0, err
    assert f"written to {out_dir}" in out
    manifest = json.loads((out_dir / "manifest.json").read_text())
    written = {f["path"] for f in manifest["files"]}
    assert written
    assert all((out_dir / p).is_file() for p in written)
    assert (out_dir / "README.md").is_file()
