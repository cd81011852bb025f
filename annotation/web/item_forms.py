"""The item browser's filter form: every filter bounded, an invalid one ignored (and shown)
rather than answered with an error page."""

from __future__ import annotations

from typing import Any

from django import forms

from annotation.models import SuggestionMethod
from annotation.selectors.items import (
    SEARCH_MAX,
    AgreementFilter,
    FlagFilter,
    ItemOrder,
    ItemQuery,
    ItemStatus,
    SuggestedFilter,
)
from annotation.services.item_bulk import PRIORITY_MAX, PRIORITY_MIN

ID_MAX = 2**63 - 1
SCORE_BOUND = 1e9


def _choices(choices: list[tuple[str, str]], blank: str = "Any") -> list[tuple[str, str]]:
    return [("", blank), *choices]


class ItemFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=SEARCH_MAX, strip=True)
    dataset = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(required=False, choices=_choices(ItemStatus.choices))
    labels_min = forms.IntegerField(required=False, min_value=0, max_value=10_000)
    labels_max = forms.IntegerField(required=False, min_value=0, max_value=10_000)
    agreement = forms.ChoiceField(required=False, choices=_choices(AgreementFilter.choices))
    flags = forms.ChoiceField(required=False, choices=_choices(FlagFilter.choices))
    suggested = forms.ChoiceField(required=False, choices=_choices(SuggestedFilter.choices))
    method = forms.ChoiceField(required=False, choices=_choices(SuggestionMethod.choices))
    verdict = forms.CharField(required=False, max_length=64, strip=True)
    score_min = forms.FloatField(required=False, min_value=-SCORE_BOUND, max_value=SCORE_BOUND)
    score_max = forms.FloatField(required=False, min_value=-SCORE_BOUND, max_value=SCORE_BOUND)
    priority_min = forms.IntegerField(
        required=False, min_value=PRIORITY_MIN, max_value=PRIORITY_MAX
    )
    priority_max = forms.IntegerField(
        required=False, min_value=PRIORITY_MIN, max_value=PRIORITY_MAX
    )
    annotator = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    order = forms.ChoiceField(required=False, choices=ItemOrder.choices)

    def __init__(
        self,
        data: Any,
        *,
        datasets: list[tuple[int, str]],
        annotators: list[tuple[int, str]],
    ) -> None:
        super().__init__(data)
        dataset_field: Any = self.fields["dataset"]
        dataset_field.choices = [("", "All datasets"), *datasets]
        annotator_field: Any = self.fields["annotator"]
        annotator_field.choices = [("", "Anyone"), *annotators]

    def query(self) -> ItemQuery:
        """The valid filters as an ItemQuery (fields with errors are left out)."""
        self.is_valid()
        d = {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}
        return ItemQuery(
            dataset_id=d.get("dataset"),
            status=d.get("status", ""),
            labels_min=d.get("labels_min"),
            labels_max=d.get("labels_max"),
            agreement=d.get("agreement", ""),
            flags=d.get("flags", ""),
            suggested=d.get("suggested", ""),
            method=d.get("method", ""),
            verdict=d.get("verdict", ""),
            score_min=d.get("score_min"),
            score_max=d.get("score_max"),
            priority_min=d.get("priority_min"),
            priority_max=d.get("priority_max"),
            annotator_id=d.get("annotator"),
            q=d.get("q", ""),
            order=d.get("order") or ItemOrder.ID,
        )
