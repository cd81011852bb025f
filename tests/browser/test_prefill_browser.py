"""Verify-the-model mode in Chromium: the model's step labels are pre-filled and marked,
submit is blocked until every pre-filled step is confirmed (v) or changed, and the saved
step labels carry their provenance; the dashboard's model-loop panel shows the overrides."""

from __future__ import annotations

import pytest

from annotation.models import Annotation, Item, Project, Step, StepLabel, Suggestion
from annotation.services.stats import project_stats_refresh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SLUG = "demo-math-steps"


def _prefill_project() -> Project:
    project = Project.objects.get(slug=SLUG)
    project.prefill = True
    project.save(update_fields=["prefill"])
    # A PRM job (newer than anything else) that likes every step but the last.
    rows = []
    for item in Item.objects.filter(project=project):
        steps = list(Step.objects.filter(item=item).order_by("index"))
        for step in steps:
            score = 0.2 if step.index == len(steps) - 1 else 0.9
            rows.append(
                Suggestion(
                    item=item, step=step, target=f"step:{step.index}", method="prm",
                    model_name="tiny-prm", job_id=10**9, score=score,
                    label="+" if score >= 0.5 else "-",
                )
            )  # fmt: skip
    Suggestion.objects.bulk_create(rows)
    return project


def test_prefill_confirm_or_change_every_step(page, live_server, demo, login, shot) -> None:
    project = _prefill_project()
    login(page, "annotator1")
    page.goto(f"{live_server.url}/projects/{SLUG}/annotate/")
    task = page.locator("#current-slot .task:not([hidden])")
    item_ext = task.get_attribute("data-item")
    n = task.locator(".step-card").count()
    assert n >= 3
    assert task.locator(".prefill-note").is_visible()
    assert task.locator(".step-card.prefilled").count() == n
    # The model's values are selected and marked as the model's.
    assert task.locator(".step-card.rated-right").count() == n - 1
    assert task.locator(".step-card.rated-wrong").count() == 1
    assert task.locator(".step-card.prefill-pending").count() == n
    assert "Model (PRM P(correct), 0.90): +1" in task.locator(".step-card").first.inner_text()
    shot(page, "prefill-shown")
    # Submit is blocked while any pre-filled step is neither confirmed nor changed.
    page.keyboard.press("Enter")
    error = task.locator(".task-error")
    error.get_by_text("Confirm (v) or change the model's label").wait_for()
    assert "unconfirmed: 1, 2, 3" in error.inner_text()
    shot(page, "prefill-blocked")
    assert not Annotation.objects.filter(item__project=project, source="human").exists()
    # Confirm every step with v, except step 2, changed to neutral (2 rates and moves on).
    page.keyboard.press("Escape")
    for i in range(n):
        if i == 1:
            page.keyboard.press("2")
        else:
            page.keyboard.press("v")
            page.keyboard.press("j")
    assert task.locator(".step-card.prefill-pending").count() == 0
    shot(page, "prefill-confirmed")
    page.keyboard.press("Enter")
    page.locator("#progress-slot", has_text="1 done").wait_for()
    ann = Annotation.objects.get(
        annotator__username="annotator1", item__project=project, source="human"
    )
    assert ann.item.external_id == item_ext
    assert ann.prefilled
    rows = list(
        StepLabel.objects.filter(annotation=ann)
        .order_by("step__index")
        .values_list("rating", "provenance", "model_value", "model_method")
    )
    expected = [(1, "model_confirmed", 1, "prm")] * n
    expected[1] = (0, "model_changed", 1, "prm")
    expected[-1] = (-1, "model_confirmed", -1, "prm")
    assert rows == expected
    # The managers' dashboard reports how often humans overrode the PRM.
    project_stats_refresh(project=project)
    page.context.clear_cookies()
    login(page, "manager")
    page.goto(f"{live_server.url}/projects/{SLUG}/dashboard/")
    panel = page.locator("#model-loop")
    panel.scroll_into_view_if_needed()
    text = panel.inner_text()
    assert "prm" in text
    assert f"{1 / n:.3f}" in text
    shot(page, "prefill-dashboard", full_page=True)


def test_dashboard_calibration_chart(page, live_server, demo, login, shot) -> None:
    """The accuracy/coverage chart with real points: experts on every demo item, the judge
    right on all, MC on most, and a PRM whose margin separates right from wrong."""
    from annotation.models import User

    project = Project.objects.get(slug=SLUG)
    expert = User.objects.create(username="experts", kind=User.Kind.IMPORTED)
    for n, item in enumerate(Item.objects.filter(project=project).order_by("id")):
        ref = -1 if n % 2 else 0
        Annotation.objects.create(item=item, annotator=expert, source="imported",
                                  first_error_index=ref)  # fmt: skip
        steps = item.steps.count()
        wrong = 1 if ref == 0 else 0
        rows = [("verify", str(ref), {}), ("mc", str(ref if n < 8 else wrong), {})]
        prm_ok = n % 3 != 0
        prm = ref if prm_ok else wrong
        margin = 0.4 if prm_ok else 0.1
        scores = [0.5 + margin] * steps
        if prm >= 0:
            scores[prm] = 0.5 - margin
        rows.append(("prm", str(prm), {"scores": scores, "threshold": 0.5}))
        for job, (method, label, raw) in enumerate(rows, start=1):
            Suggestion.objects.create(item=item, target="item", method=method, label=label,
                                      model_name="m", job_id=job, raw=raw)  # fmt: skip
    project.auto_accept_min_labeled = 5
    project.auto_accept_target = 0.6
    project.save()
    project_stats_refresh(project=project)
    login(page, "manager")
    page.goto(f"{live_server.url}/projects/{SLUG}/dashboard/")
    panel = page.locator("#model-loop")
    panel.scroll_into_view_if_needed()
    chart = panel.locator('svg[aria-label="Accuracy against coverage per method"]')
    assert chart.locator("circle").count() >= 5
    text = panel.inner_text()
    assert "Consensus jobs would accept labels with" in text
    shot(page, "loop-calibration-chart", full_page=True)
