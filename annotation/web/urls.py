from django.contrib.auth import views as auth_views
from django.urls import path

from annotation.web import views

urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("projects/new/", views.project_new, name="project_new"),
    path("projects/<slug:slug>/", views.project_detail, name="project_detail"),
    path("projects/<slug:slug>/imports/", views.import_create, name="import_create"),
    path("projects/<slug:slug>/imports/<int:run_id>/row/", views.import_row, name="import_row"),
    path("profile/", views.profile, name="profile"),
]
