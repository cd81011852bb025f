"""URLs of the annotator's and reviewer's REST endpoints, included by `annotation.api.urls`
under /api/v1/ (namespace `api`)."""

from django.urls import URLPattern, path

from annotation.api import annotate_views as views

project = "projects/<slug:slug>/"

annotate_urlpatterns: list[URLPattern] = [
    path(f"{project}assignments/next/", views.AssignmentNextApi.as_view(), name="assignment-next"),
    path(
        f"{project}assignments/<int:pk>/submit/",
        views.AssignmentSubmitApi.as_view(),
        name="assignment-submit",
    ),
    path(
        f"{project}assignments/<int:pk>/skip/",
        views.AssignmentSkipApi.as_view(),
        name="assignment-skip",
    ),
    path(
        f"{project}annotations/mine/",
        views.AnnotationMineListApi.as_view(),
        name="annotation-mine",
    ),
    path(
        f"{project}annotations/<int:pk>/",
        views.AnnotationEditApi.as_view(),
        name="annotation-detail",
    ),
    path(f"{project}items/<int:pk>/flags/", views.ItemFlagCreateApi.as_view(), name="item-flags"),
    path(
        f"{project}items/<int:pk>/annotations/",
        views.ItemAnnotationListApi.as_view(),
        name="item-annotations",
    ),
    path(
        f"{project}items/<int:pk>/adjudication/",
        views.AdjudicationCreateApi.as_view(),
        name="item-adjudication",
    ),
    path(f"{project}review/items/", views.ReviewItemListApi.as_view(), name="review-item-list"),
]

# `include("annotation.api.annotate_urls")` looks for this name.
urlpatterns = annotate_urlpatterns
