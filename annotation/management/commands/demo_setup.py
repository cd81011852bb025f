from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from annotation.services.demo import demo_setup
from config.env import env


class Command(BaseCommand):
    help = "Create the demo users and projects with their sample data (idempotent)."

    def handle(self, *args: Any, **opts: Any) -> None:
        result = demo_setup(password=env.str("STEPWISE_DEMO_PASSWORD", default="") or None)
        if result.created_users:
            self.stdout.write(
                self.style.WARNING(
                    f"Demo users {', '.join(result.created_users)} created with password: "
                    f"{result.password}"
                    + (
                        ""
                        if env.str("STEPWISE_DEMO_PASSWORD", default="")
                        else "  (generated; shown once)"
                    )
                )
            )
        for slug, n in result.imported.items():
            self.stdout.write(f"Demo project {slug}: {n} new items")
