from django.contrib.auth import views as auth_views
from django.urls import include, path

from annotation.web import (
    accounts,
    annotate,
    backup,
    exports,
    health,
    items,
    review,
    settings,
    study,
    study_links,
    views,
)

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/reset/",
        accounts.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "accounts/password/reset/sent/",
        accounts.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        accounts.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/complete/",
        accounts.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("", views.home, name="home"),
    path("projects/new/", views.project_new, name="project_new"),
    path("projects/<slug:slug>/", views.project_detail, name="project_detail"),
    path("projects/<slug:slug>/backup/", backup.project_backup, name="project_backup"),
    # Managers set the project up: settings, label schema, members.
    path("projects/<slug:slug>/settings/", settings.project_settings, name="project_settings"),
    path(
        "projects/<slug:slug>/settings/instructions/preview/",
        settings.instructions_preview,
        name="project_instructions_preview",
    ),
    path("projects/<slug:slug>/settings/schema/", settings.project_schema, name="project_schema"),
    path(
        "projects/<slug:slug>/settings/schema/preview/",
        settings.project_schema_preview,
        name="project_schema_preview",
    ),
    path("projects/<slug:slug>/members/", settings.project_members, name="project_members"),
    path(
        "projects/<slug:slug>/members/<int:membership_id>/role/",
        settings.project_member_role,
        name="project_member_role",
    ),
    path(
        "projects/<slug:slug>/members/<int:membership_id>/remove/",
        settings.project_member_remove,
        name="project_member_remove",
    ),
    path("backups/restore/", backup.project_restore_upload, name="project_restore"),
    path("projects/<slug:slug>/imports/", views.import_create, name="import_create"),
    path("projects/<slug:slug>/imports/<int:run_id>/row/", views.import_row, name="import_row"),
    path(
        "projects/<slug:slug>/imports/<int:run_id>/retry/", views.import_retry, name="import_retry"
    ),
    path("projects/<slug:slug>/exports/", exports.exports_page, name="exports_page"),
    path("projects/<slug:slug>/exports/<int:run_id>/row/", exports.export_row, name="export_row"),
    path(
        "projects/<slug:slug>/exports/<int:run_id>/card/", exports.export_card, name="export_card"
    ),
    path(
        "projects/<slug:slug>/exports/<int:run_id>/retry/",
        exports.export_retry,
        name="export_retry",
    ),
    path("profile/", views.profile, name="profile"),
    # The annotator's day.
    path("projects/<slug:slug>/annotate/", annotate.annotate, name="annotate"),
    path(
        "projects/<slug:slug>/annotate/content-note/",
        annotate.annotate_content_note,
        name="annotate_content_note",
    ),
    path(
        "projects/<slug:slug>/annotate/<int:assignment_id>/submit/",
        annotate.annotate_submit,
        name="annotate_submit",
    ),
    path(
        "projects/<slug:slug>/annotate/<int:assignment_id>/skip/",
        annotate.annotate_skip,
        name="annotate_skip",
    ),
    path(
        "projects/<slug:slug>/annotate/<int:assignment_id>/flag/",
        annotate.annotate_flag,
        name="annotate_flag",
    ),
    path("projects/<slug:slug>/annotations/", annotate.annotate_mine, name="annotate_mine"),
    path(
        "projects/<slug:slug>/annotations/<int:annotation_id>/edit/",
        annotate.annotate_edit,
        name="annotate_edit",
    ),
    path("", include("annotation.web.dashboard_urls")),
    # The item browser.
    path("projects/<slug:slug>/items/", items.item_list, name="item_list"),
    path("projects/<slug:slug>/items/bulk/", items.item_bulk, name="item_bulk"),
    path("projects/<slug:slug>/items/<int:item_id>/", items.item_detail, name="item_detail"),
    # Review and adjudication.
    path("projects/<slug:slug>/review/", review.review_list, name="review_list"),
    path("projects/<slug:slug>/review/<int:item_id>/", review.review_item, name="review_item"),
    path(
        "projects/<slug:slug>/review/flags/<int:flag_id>/resolve/",
        review.review_flag_resolve,
        name="review_flag_resolve",
    ),
    # Crowd-worker study links: the managers' pages, and the workers' pages under /s/.
    path("projects/<slug:slug>/study-links/", study_links.study_links, name="study_links"),
    path(
        "projects/<slug:slug>/study-links/<int:link_id>/",
        study_links.study_link_detail,
        name="study_link_detail",
    ),
    path(
        "projects/<slug:slug>/study-links/<int:link_id>/pause/",
        study_links.study_link_pause,
        name="study_link_pause",
    ),
    path(
        "projects/<slug:slug>/study-links/<int:link_id>/workers.csv",
        study_links.study_link_workers_csv,
        name="study_link_workers_csv",
    ),
    path("s/<slug:token>/", study.study_entry, name="study_entry"),
    path("s/<slug:token>/start/", study.study_start, name="study_start"),
    path("s/<slug:token>/label/", study.study_label, name="study_label"),
    path(
        "s/<slug:token>/label/<int:assignment_id>/",
        study.study_label_submit,
        name="study_label_submit",
    ),
    path("s/<slug:token>/feedback/", study.study_feedback, name="study_feedback"),
    path("s/<slug:token>/done/", study.study_done, name="study_done"),
]
