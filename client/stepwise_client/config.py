"""Where the client finds the server and the token.

Order: the arguments given to `Client(...)`, then the environment (`STEPWISE_URL`,
`STEPWISE_TOKEN`), then the config file that `stepwise login` writes:
`$STEPWISE_CONFIG`, else `$XDG_CONFIG_HOME/stepwise/config.toml`, else
`~/.config/stepwise/config.toml`::

    url = "http://127.0.0.1:8000"
    token = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"

The file's token is used only for the file's server: a client pointed at another URL does not
send it there.
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepwise_client.errors import ConfigError

URL_ENV = "STEPWISE_URL"
TOKEN_ENV = "STEPWISE_TOKEN"  # noqa: S105 - the variable's name, not a secret
CONFIG_ENV = "STEPWISE_CONFIG"


def config_path() -> Path:
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "stepwise" / "config.toml"


def config_load(path: Path | None = None) -> dict[str, Any]:
    """The config file's values ({} when there is no file)."""
    path = path or config_path()
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc}") from exc
    return data


def config_save(*, url: str, token: str, path: Path | None = None) -> Path:
    """Write the server URL and token, readable by the owner only (0600), atomically."""
    from stepwise_client._http import server_url

    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # JSON string escapes are valid TOML basic strings.
    text = (
        "# Written by `stepwise login`. Keep it private: the token acts as your password.\n"
        f"url = {json.dumps(server_url(url))}\ntoken = {json.dumps(token)}\n"
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True)
class Credentials:
    url: str
    token: str | None
    source: str  # where the token came from: "argument", "environment", "config file", "none"


def credentials_resolve(url: str | None = None, token: str | None = None) -> Credentials:
    from stepwise_client._http import server_url

    file_cfg: dict[str, Any] | None = None

    def cfg() -> dict[str, Any]:
        nonlocal file_cfg
        if file_cfg is None:
            file_cfg = config_load()
        return file_cfg

    chosen = url or os.environ.get(URL_ENV) or cfg().get("url")
    if not chosen:
        raise ConfigError(
            "no Stepwise server given: pass url=..., set STEPWISE_URL, or run `stepwise login`"
        )
    chosen = server_url(str(chosen))
    if token:
        return Credentials(chosen, token, "argument")
    if os.environ.get(TOKEN_ENV):
        return Credentials(chosen, os.environ[TOKEN_ENV], "environment")
    saved = cfg()
    if saved.get("token") and saved.get("url") and server_url(str(saved["url"])) == chosen:
        return Credentials(chosen, str(saved["token"]), "config file")
    return Credentials(chosen, None, "none")
