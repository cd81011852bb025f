"""`stepwise`: the client's verbs from a shell.

The token comes from STEPWISE_TOKEN or the config file that `stepwise login` writes (it asks
for the password; nothing secret is ever an argument, so nothing lands in the shell history).
The server is `--url`, else STEPWISE_URL, else the config file's. Exit status: 0 done, 1 the
server refused or a run failed (the reasons go to stderr), 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stepwise_client import __version__
from stepwise_client.client import Client
from stepwise_client.config import config_save
from stepwise_client.errors import ConfigError, ImportFailed, StepwiseError


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(items: Sequence[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what} must look like NAME=VALUE, got {item!r}")
        out[key] = _value(value)
    return out


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        return "-" if v is None else str(v)

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _emit(args: argparse.Namespace, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(_table(rows, columns))


def _client(args: argparse.Namespace) -> Client:
    client = Client(args.url, timeout=args.timeout)
    if client.token is None:
        raise ConfigError(
            f"no token for {client.url}: set STEPWISE_TOKEN or run `stepwise login --url {client.url}`"
        )
    return client


# --- verbs -------------------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    from stepwise_client.config import config_load

    url = args.url or config_load().get("url")
    if not url:
        raise ConfigError("give the server: stepwise login --url http://host:8000")
    username = args.username or input("Username: ").strip()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"Password for {username} at {url}: ")
    client = Client.login(url, username, password, timeout=args.timeout)
    path = config_save(url=client.url, token=client.token or "")
    print(f"Logged in to {client.url} as {username}; token saved to {path}")
    return 0


def cmd_projects(args: argparse.Namespace) -> int:
    rows = [vars(p) for p in _client(args).projects()]
    _emit(args, [{k: v for k, v in r.items() if not k.startswith("_") and k != "raw"} for r in rows],
          ("slug", "kind", "item_count", "name"))  # fmt: skip
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    rows = [{k: v for k, v in vars(d).items() if k != "raw"}
            for d in _client(args).datasets(args.project)]  # fmt: skip
    _emit(args, rows, ("id", "name", "source_format", "item_count", "license"))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    client = _client(args)
    path = Path(args.file)
    if not path.is_file():
        raise ConfigError(f"no such file: {path}")
    run = client.import_file(
        args.project, path, format=args.format, dataset=args.dataset,
        options=_pairs(args.option, "--option"), wait=not args.no_wait,
        timeout=args.wait_timeout, progress=not args.quiet,
    )  # fmt: skip
    if args.json:
        print(json.dumps(run.raw, indent=2, default=str))
        return 0
    if args.no_wait:
        print(
            f"import {run.id} queued; poll it with the API: /api/v1/projects/{args.project}/imports/{run.id}/"
        )
        return 0
    print(
        f"import {run.id} {run.status}: {run.items_created} items created, "
        f"{run.items_unchanged} unchanged, {run.annotations_created} annotations"
        + (f" — {run.message}" if run.message else "")
    )
    return 0


def cmd_job(args: argparse.Namespace) -> int:
    client = _client(args)
    job = client.start_job(
        args.project, args.kind, model=args.model, backend=args.backend,
        params=_pairs(args.param, "--param") or None, limit=args.limit,
    )  # fmt: skip
    if args.wait:
        job = client.wait_job(job, timeout=args.wait_timeout, progress=not args.quiet)
    if args.json:
        print(json.dumps(job.raw, indent=2, default=str))
        return 0
    print(
        f"job {job.id} ({job.kind}, {job.model_name}) {job.status}: "
        f"{job.progress_done}/{job.progress_total}"
    )
    return 0


def cmd_agreement(args: argparse.Namespace) -> int:
    report = _client(args).agreement(
        args.project, fields=args.field, sources=args.sources, fresh=args.fresh
    )
    if args.json:
        print(json.dumps(report.raw, indent=2, default=str))
        return 0
    print(_table(report.rows(), ("field", "level", "n_units", "n_ratings", "n_raters", "alpha",
                                 "percent_agreement", "fleiss_kappa")))  # fmt: skip
    when = report.computed_at.isoformat() if report.computed_at else "now"
    print(f"\nsources: {', '.join(report.sources)}; computed {when}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    client = _client(args)
    export = client.export(
        args.project, args.format, options=_pairs(args.option, "--option"),
        timeout=args.wait_timeout, progress=not args.quiet,
    )  # fmt: skip
    out = export.download(args.out)
    if args.json:
        print(json.dumps({**export.raw, "local_dir": str(out)}, indent=2, default=str))
        return 0
    splits = ", ".join(f"{k}: {v}" for k, v in export.splits.items()) or "no records"
    print(f"export {export.id} ({export.format}) written to {out} ({splits})")
    return 0


# --- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="server URL (default: STEPWISE_URL, then the config file)")
    common.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    parser = argparse.ArgumentParser(
        prog="stepwise", description="Stepwise from the command line (token: STEPWISE_TOKEN or "
        "the config file written by `stepwise login`).",
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("login", parents=[common], help="get a token and save it")
    p.add_argument("--username", help="asked for when absent")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from standard input (for scripts)")  # fmt: skip
    p.set_defaults(func=cmd_login)

    p = sub.add_parser("projects", parents=[common], help="list your projects")
    p.set_defaults(func=cmd_projects)

    p = sub.add_parser("datasets", parents=[common], help="list a project's datasets")
    p.add_argument("--project", required=True, metavar="SLUG")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("import", parents=[common], help="upload a file and wait for its import")
    p.add_argument("--project", required=True, metavar="SLUG")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", required=True, help="native, processbench, prm800k, annomi, ...")
    p.add_argument("--dataset", help="dataset to import into (default: the file's name)")
    p.add_argument("--option", action="append", metavar="NAME=VALUE", help="format option")
    p.add_argument("--no-wait", action="store_true", help="queue the import and return")
    p.add_argument("--wait-timeout", type=float, metavar="SECONDS")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("job", parents=[common], help="start a labeling job")
    p.add_argument("--project", required=True, metavar="SLUG")
    p.add_argument("--kind", required=True,
                   help="step_judge, mc_estimate, first_error_search, consensus, pair_judge, "
                        "turn_coder, prm_score, prm_train")  # fmt: skip
    p.add_argument("--model", help="model name or path (default: the demo model)")
    p.add_argument("--backend", choices=("transformers", "openai"))
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="job parameter")
    p.add_argument("--limit", type=int, help="at most this many items")
    p.add_argument("--wait", action="store_true", help="wait with a progress bar")
    p.add_argument("--wait-timeout", type=float, metavar="SECONDS")
    p.set_defaults(func=cmd_job)

    p = sub.add_parser("agreement", parents=[common], help="agreement per label field")
    p.add_argument("--project", required=True, metavar="SLUG")
    p.add_argument("--field", action="append", help="only this field (repeatable)")
    p.add_argument("--sources", choices=("annotators", "human", "imported"))
    p.add_argument("--fresh", action="store_true", help="compute now, not the dashboard's figures")
    p.set_defaults(func=cmd_agreement)

    p = sub.add_parser("export", parents=[common], help="export, wait and download")
    p.add_argument("--project", required=True, metavar="SLUG")
    p.add_argument("--format", required=True, help="trl_preference, trl_stepwise, prm800k, ...")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the files")
    p.add_argument("--option", action="append", metavar="NAME=VALUE",
                   help="export option, e.g. test_size=0.1 or file_format=parquet")  # fmt: skip
    p.add_argument("--wait-timeout", type=float, metavar="SECONDS")
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"stepwise: {exc}", file=sys.stderr)
        return 2
    except ImportFailed as exc:
        print(f"stepwise: {exc}", file=sys.stderr)
        return 1
    except StepwiseError as exc:
        print(f"stepwise: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stepwise: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
