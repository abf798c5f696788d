from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from .views import exports, home, owner, review, uploads

urlpatterns = [
    path("", home.home, name="home"),
    path("healthz", home.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # Owners: experiments and their set-up
    path("owner/", owner.experiment_list, name="owner-experiments"),
    path("owner/new/", owner.experiment_new, name="owner-experiment-new"),
    path("owner/experiments/<slug:slug>/", owner.experiment_detail, name="owner-experiment"),
    path(
        "owner/experiments/<slug:slug>/settings/", owner.experiment_settings, name="owner-settings"
    ),
    path("owner/experiments/<slug:slug>/rubric/", owner.experiment_dimensions, name="owner-rubric"),
    path("owner/experiments/<slug:slug>/status/", owner.experiment_status, name="owner-status"),
    path(
        "owner/experiments/<slug:slug>/reviewers/",
        owner.experiment_reviewers,
        name="owner-reviewers",
    ),
    # Upload -> pairs
    path("owner/experiments/<slug:slug>/upload/", uploads.upload_pairs, name="owner-upload"),
    path(
        "owner/experiments/<slug:slug>/upload/confirm/",
        uploads.confirm_upload,
        name="owner-upload-confirm",
    ),
    # Review
    path("review/", review.review_home, name="review-home"),
    path("review/<slug:slug>/", review.review_pair, name="review-pair"),
    path(
        "review/<slug:slug>/<int:assignment_id>/submit/", review.submit_pair, name="review-submit"
    ),
    path("review/<slug:slug>/<int:assignment_id>/skip/", review.skip_pair, name="review-skip"),
    # Export
    path(
        "owner/experiments/<slug:slug>/judgments.csv",
        exports.judgments_csv,
        name="export-judgments",
    ),
]
