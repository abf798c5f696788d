from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from . import api
from .views import accounts, exports, home, invites, owner, results, review, tokens, uploads

urlpatterns = [
    path("", home.home, name="home"),
    path("healthz", home.healthz, name="healthz"),
    path("login/", accounts.ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # Owners: API tokens (the API itself is mounted at api/, below)
    path("settings/tokens/", tokens.token_list, name="owner-tokens"),
    path("settings/tokens/<int:token_id>/revoke/", tokens.token_revoke, name="owner-token-revoke"),
    # Owners: experiments and their set-up
    path("owner/", owner.experiment_list, name="owner-experiments"),
    path("owner/new/", owner.experiment_new, name="owner-experiment-new"),
    path("owner/experiments/<slug:slug>/", owner.experiment_detail, name="owner-experiment"),
    path(
        "owner/experiments/<slug:slug>/settings/", owner.experiment_settings, name="owner-settings"
    ),
    path("owner/experiments/<slug:slug>/rubric/", owner.experiment_dimensions, name="owner-rubric"),
    path("owner/experiments/<slug:slug>/status/", owner.experiment_status, name="owner-status"),
    path("owner/experiments/<slug:slug>/sharing/", owner.experiment_sharing, name="owner-sharing"),
    path("owner/experiments/<slug:slug>/leaks/", owner.experiment_leaks, name="owner-leaks"),
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
    # Invite links: owners manage them, external reviewers join through them
    path("owner/experiments/<slug:slug>/invites/", invites.invite_links, name="owner-invites"),
    path(
        "owner/experiments/<slug:slug>/invites/<int:invite_id>/revoke/",
        invites.revoke_invite,
        name="owner-invite-revoke",
    ),
    path("join/<str:token>/", invites.join, name="invite-join"),
    # Review
    path("review/", review.review_home, name="review-home"),
    path("review/<slug:slug>/", review.review_pair, name="review-pair"),
    path(
        "review/<slug:slug>/<int:assignment_id>/submit/", review.submit_pair, name="review-submit"
    ),
    path("review/<slug:slug>/<int:assignment_id>/skip/", review.skip_pair, name="review-skip"),
    # Results
    path("owner/experiments/<slug:slug>/results/", results.results_page, name="results-page"),
    path("owner/experiments/<slug:slug>/results.json", results.results_json, name="results-json"),
    path("owner/experiments/<slug:slug>/results.csv", results.results_csv, name="results-csv"),
    path(
        "owner/experiments/<slug:slug>/reviewers/exclusion/",
        results.reviewer_exclusion,
        name="owner-exclude-reviewer",
    ),
    # Export
    path(
        "owner/experiments/<slug:slug>/judgments.csv",
        exports.judgments_csv,
        name="export-judgments",
    ),
    path(
        "owner/experiments/<slug:slug>/assignments.csv",
        exports.assignments_csv,
        name="export-assignments",
    ),
    # JSON API (token auth; schema at api/openapi.json, docs at api/docs)
    path("api/", api.urls()),
]
