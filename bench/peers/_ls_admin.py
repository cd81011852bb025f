"""Runs inside Label Studio's own virtualenv (never imported by Stepwise): migrate a data
dir, or create an organization with users and legacy API tokens, printing them as JSON.

    python _ls_admin.py migrate
    python _ls_admin.py users ADMIN_EMAIL [ANNOTATOR_EMAIL ...]

The data dir and settings come from the environment (`ls_peer.ls_env`).
"""

import json
import secrets
import sys

from label_studio.server import _apply_database_migrations, _setup_env  # type: ignore[import]


def main() -> None:
    _setup_env()
    command = sys.argv[1]
    if command == "migrate":
        _apply_database_migrations()
        return
    if command != "users":
        raise SystemExit(f"unknown command {command!r}")
    from organizations.models import Organization  # type: ignore[import]
    from rest_framework.authtoken.models import Token
    from users.models import User  # type: ignore[import]

    emails = sys.argv[2:]
    password = secrets.token_urlsafe(16)
    admin = User.objects.create_user(email=emails[0], password=password)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    org = Organization.create_organization(
        created_by=admin, title="Stepwise peer benchmark", legacy_api_tokens_enabled=True
    )
    users = [admin]
    for email in emails[1:]:
        user = User.objects.create_user(email=email, password=password)
        org.add_user(user)
        users.append(user)
    out = {}
    for user in users:
        user.active_organization = org
        user.save(update_fields=["active_organization"])
        out[user.email] = {"id": user.id, "token": Token.objects.get_or_create(user=user)[0].key}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
