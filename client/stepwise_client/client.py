"""`Client`: the Stepwise REST API from Python.

    from stepwise_client import Client
    client = Client("http://127.0.0.1:8000", token="...")   # or Client() with STEPWISE_TOKEN
    project = client.project("demo-math-steps")
    project.import_file("traces.jsonl", format="native", dataset="batch-1")
    ds = project.export("trl_stepwise", test_size=0.1).to_datasets()

Every `project` argument takes a slug or a `Project`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from stepwise_client import __version__
from stepwise_client._http import Http, quote_path
from stepwise_client._parse import build
from stepwise_client._wait import wait_for
from stepwise_client.config import credentials_resolve
from stepwise_client.errors import ExportFailed, ImportFailed, JobFailed
from stepwise_client.exports import Export
from stepwise_client.models import (
    Agreement,
    Dataset,
    FieldAgreement,
    ImportRun,
    Item,
    LabelingJob,
    Project,
    ServerInfo,
)

ProjectRef = str | Project


def _slug(project: ProjectRef) -> str:
    return project.slug if isinstance(project, Project) else str(project)


def _results(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    """Rows and the next page's URL of a list answer, paginated (`results`/`next`) or not."""
    if isinstance(body, dict) and "results" in body:
        return body["results"], body.get("next")
    return list(body), None


class Client:
    """A connection to one Stepwise server as one user.

    `url` and `token` default to STEPWISE_URL / STEPWISE_TOKEN, then to the config file that
    `stepwise login` writes (see `stepwise_client.config`). `timeout` bounds each request
    (seconds); `retries` and `backoff` govern retries of failed connections and 5xx answers;
    `poll_interval` is the longest pause between two polls of a running import, job or export.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        poll_interval: float = 2.0,
        verify: bool | str = True,
    ) -> None:
        creds = credentials_resolve(url, token)
        self.url = creds.url
        self.token_source = creds.source
        self.poll_interval = poll_interval
        self._http = Http(
            creds.url, creds.token, timeout=timeout, retries=retries, backoff=backoff,
            verify=verify, user_agent=f"stepwise-client/{__version__}",
        )  # fmt: skip

    @classmethod
    def login(cls, url: str, username: str, password: str, **kw: Any) -> Client:
        """Exchange a username and password for the user's API token; a client using it."""
        http = Http(url, None, timeout=kw.get("timeout", 30.0), retries=kw.get("retries", 3))
        try:
            body = http.request(
                "POST", "auth/token/", data={"username": username, "password": password}
            ).json()
        finally:
            http.close()
        return cls(url, body["token"], **kw)

    @property
    def token(self) -> str | None:
        auth = self._http.client.headers.get("Authorization", "")
        return auth.removeprefix("Token ") or None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r}, token from {self.token_source})"

    # --- server, projects, datasets, items ---------------------------------------------------

    def info(self) -> ServerInfo:
        """The API index: name, version, the signed-in user (None without a valid token)."""
        return build(ServerInfo, self._http.get_json(""))

    def projects(self) -> list[Project]:
        """Your projects (a superuser sees all)."""
        return [build(Project, p, _client=self) for p in self._http.get_json("projects/")]

    def project(self, slug: str) -> Project:
        body = self._http.get_json(f"projects/{quote_path(slug)}/")
        return build(Project, body, _client=self)

    def datasets(self, project: ProjectRef) -> list[Dataset]:
        slug = _slug(project)
        rows = self._http.get_json(f"projects/{quote_path(slug)}/datasets/")
        return [build(Dataset, d, project=slug) for d in rows]

    def get_dataset(self, project: ProjectRef, dataset_id: int) -> Dataset:
        slug = _slug(project)
        body = self._http.get_json(f"projects/{quote_path(slug)}/datasets/{int(dataset_id)}/")
        return build(Dataset, body, project=slug)

    def items(
        self, project: ProjectRef, *, dataset: int | None = None, page_size: int = 100
    ) -> Iterator[Item]:
        """Every item of the project (or of one dataset), page by page, in id order."""
        path = f"projects/{quote_path(_slug(project))}/items/"
        params: dict[str, Any] = {"page_size": page_size}
        if dataset is not None:
            params["dataset"] = int(dataset)
        while True:
            rows, nxt = _results(self._http.get_json(path, **params))
            yield from (build(Item, row) for row in rows)
            if not nxt:
                return
            params = {k: v[0] for k, v in parse_qs(urlsplit(nxt).query).items()}

    # --- imports -------------------------------------------------------------------------------

    def import_file(
        self,
        project: ProjectRef,
        path: str | Path,
        *,
        format: str,  # noqa: A002 - the API's name
        dataset: str | None = None,
        options: dict[str, Any] | None = None,
        wait: bool = True,
        timeout: float | None = None,
        progress: bool = False,
    ) -> ImportRun:
        """Upload a file and (by default) wait for its import.

        `dataset` names the dataset to import into (created if missing; default: the file's
        stem). An import is all or nothing: a file with any bad record raises ImportFailed,
        whose `errors` name each problem's line/row/record, field and reason.
        """
        import json

        slug = _slug(project)
        path = Path(path)
        fields = {"format": format, "dataset": dataset or path.stem}
        if options:
            fields["options"] = json.dumps(options)
        with open(path, "rb") as fh:
            body = self._http.request(
                "POST", f"projects/{quote_path(slug)}/imports/", data=fields,
                files={"file": (path.name, fh, "application/octet-stream")},
            ).json()  # fmt: skip
        run = build(ImportRun, body, project=slug, _client=self)
        return self.wait_import(run, timeout=timeout, progress=progress) if wait else run

    def get_import(self, project: ProjectRef, run_id: int) -> ImportRun:
        slug = _slug(project)
        body = self._http.get_json(f"projects/{quote_path(slug)}/imports/{int(run_id)}/")
        return build(ImportRun, body, project=slug, _client=self)

    def imports(self, project: ProjectRef, *, limit: int = 50) -> list[ImportRun]:
        """The project's latest import runs, newest first."""
        slug = _slug(project)
        body = self._http.get_json(f"projects/{quote_path(slug)}/imports/", page_size=limit)
        return [build(ImportRun, r, project=slug, _client=self) for r in _results(body)[0]]

    def wait_import(
        self, run: ImportRun, *, timeout: float | None = None, progress: bool = False,
        raise_on_failure: bool = True,
    ) -> ImportRun:  # fmt: skip
        run = wait_for(
            run, lambda r: self.get_import(r.project, r.id),
            what=f"import {run.original_filename or run.id}",
            progress_of=lambda r: (r.progress_done, None),
            timeout=timeout, poll_interval=self.poll_interval, progress=progress,
        )  # fmt: skip
        if raise_on_failure and not run.ok:
            raise ImportFailed(run)
        return run

    # --- labeling jobs -----------------------------------------------------------------------

    def start_job(
        self,
        project: ProjectRef,
        kind: str,
        *,
        model: str | None = None,
        backend: str | None = None,
        params: dict[str, Any] | None = None,
        scope: dict[str, Any] | None = None,
        limit: int | None = None,
        chunk_size: int | None = None,
    ) -> LabelingJob:
        """Queue a labeling job (`step_judge`, `mc_estimate`, `first_error_search`,
        `consensus`, `pair_judge`, `turn_coder`, `prm_score`, `prm_train`); returns at once."""
        slug = _slug(project)
        payload: dict[str, Any] = {"kind": kind}
        for key, value in (("model", model), ("backend", backend), ("params", params),
                           ("scope", scope), ("limit", limit), ("chunk_size", chunk_size)):  # fmt: skip
            if value is not None:
                payload[key] = value
        body = self._http.request("POST", f"projects/{quote_path(slug)}/jobs/", json=payload)
        return build(LabelingJob, body.json(), project=slug, _client=self)

    def run_job(
        self, project: ProjectRef, kind: str, *, timeout: float | None = None,
        progress: bool = True, **kw: Any,
    ) -> LabelingJob:  # fmt: skip
        """Start a job and wait for it with a progress bar; raises JobFailed if it fails."""
        job = self.start_job(project, kind, **kw)
        return self.wait_job(job, timeout=timeout, progress=progress)

    def get_job(self, project: ProjectRef, job_id: int) -> LabelingJob:
        slug = _slug(project)
        body = self._http.get_json(f"projects/{quote_path(slug)}/jobs/{int(job_id)}/")
        return build(LabelingJob, body, project=slug, _client=self)

    def jobs(self, project: ProjectRef) -> list[LabelingJob]:
        slug = _slug(project)
        rows, _ = _results(self._http.get_json(f"projects/{quote_path(slug)}/jobs/"))
        return [build(LabelingJob, j, project=slug, _client=self) for j in rows]

    def wait_job(
        self, job: LabelingJob, *, timeout: float | None = None, progress: bool = True,
        raise_on_failure: bool = True,
    ) -> LabelingJob:  # fmt: skip
        job = wait_for(
            job, lambda j: self.get_job(j.project, j.id), what=f"{job.kind} job {job.id}",
            progress_of=lambda j: (j.progress_done, j.progress_total or None),
            timeout=timeout, poll_interval=self.poll_interval, progress=progress,
        )  # fmt: skip
        if raise_on_failure and not job.ok:
            raise JobFailed(job)
        return job

    def cancel_job(self, project: ProjectRef, job_id: int) -> LabelingJob:
        slug = _slug(project)
        body = self._http.request("POST", f"projects/{quote_path(slug)}/jobs/{int(job_id)}/cancel/")
        return build(LabelingJob, body.json(), project=slug, _client=self)

    def retry_job(self, project: ProjectRef, job_id: int) -> LabelingJob:
        slug = _slug(project)
        body = self._http.request("POST", f"projects/{quote_path(slug)}/jobs/{int(job_id)}/retry/")
        return build(LabelingJob, body.json(), project=slug, _client=self)

    # --- agreement -----------------------------------------------------------------------------

    def agreement(
        self,
        project: ProjectRef,
        *,
        fields: Sequence[str] | None = None,
        sources: str | None = None,
        fresh: bool = False,
    ) -> Agreement:
        """Agreement per label field: the dashboard's figures, or computed now (`fresh=True`).
        `sources` is "annotators" (default: people and imported raters), "human" or
        "imported"."""
        params: dict[str, Any] = {}
        if fields:
            params["field"] = list(fields)
        if sources:
            params["sources"] = sources
        if fresh:
            params["fresh"] = "1"
        body = self._http.get_json(f"projects/{quote_path(_slug(project))}/agreement/", **params)
        parsed = [build(FieldAgreement, f) for f in body.get("fields", [])]
        return build(Agreement, body, fields=parsed)

    # --- exports -------------------------------------------------------------------------------

    def export(
        self,
        project: ProjectRef,
        format: str,  # noqa: A002 - the API's name
        *,
        options: dict[str, Any] | None = None,
        wait: bool = True,
        timeout: float | None = None,
        progress: bool = False,
        **more_options: Any,
    ) -> Export:
        """Start an export (`trl_preference`, `openai_preference`, `helpsteer2`,
        `trl_stepwise`, `math_shepherd`, `processbench`, `prm800k`) and by default wait for
        it. Options go in `options` or as keywords: `export(p, "trl_stepwise",
        test_size=0.1, file_format="parquet")`. Raises ExportFailed if it fails."""
        slug = _slug(project)
        payload = {"format": format, "options": {**(options or {}), **more_options}}
        body = self._http.request("POST", f"projects/{quote_path(slug)}/exports/", json=payload)
        run = Export.from_api(body.json(), project=slug, client=self)
        return self.wait_export(run, timeout=timeout, progress=progress) if wait else run

    def get_export(self, project: ProjectRef, export_id: int) -> Export:
        slug = _slug(project)
        body = self._http.get_json(f"projects/{quote_path(slug)}/exports/{int(export_id)}/")
        return Export.from_api(body, project=slug, client=self)

    def exports(self, project: ProjectRef) -> list[Export]:
        slug = _slug(project)
        rows, _ = _results(self._http.get_json(f"projects/{quote_path(slug)}/exports/"))
        return [Export.from_api(r, project=slug, client=self) for r in rows]

    def wait_export(
        self, export: Export, *, timeout: float | None = None, progress: bool = False,
        raise_on_failure: bool = True,
    ) -> Export:  # fmt: skip
        done = wait_for(
            export, lambda e: e.refresh(), what=f"{export.format} export {export.id}",
            progress_of=lambda e: (e.progress_done, e.progress_total or None),
            timeout=timeout, poll_interval=self.poll_interval, progress=progress,
        )  # fmt: skip
        if raise_on_failure and not done.ok:
            raise ExportFailed(done)
        return done

    def download_export_file(
        self, project: ProjectRef, export_id: int, name: str, dest: str | Path
    ) -> Path:
        """One file of a finished export, streamed to `dest`."""
        path = f"projects/{quote_path(_slug(project))}/exports/{int(export_id)}/download/"
        return self._http.download(path + quote_path(name), Path(dest))
