from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from . import api
from .views import (
    compare,
    dashboard,
    exports,
    home,
    invites,
    judgment_import,
    owner,
    pairs,
    preferences,
    results,
    review,
    tokens,
    uploads,
)

urlpatterns = [
    path("", home.home, name="home"),
    path("healthz", home.healthz, name="healthz"),
    path("favicon.ico", home.favicon, name="favicon"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # Owners: API tokens (the API itself is mounted at api/, below)
    path("settings/tokens/", tokens.token_list, name="owner-tokens"),
    path("settings/tokens/<int:token_id>/revoke/", tokens.token_revoke, name="owner-token-revoke"),
    # Owners: experiments and their set-up
    path("owner/", owner.experiment_list, name="owner-experiments"),
    path("owner/new/", owner.experiment_new, name="owner-experiment-new"),
    path("owner/compare/", compare.compare_page, name="owner-compare"),
    path("owner/experiments/<slug:slug>/", owner.experiment_detail, name="owner-experiment"),
    path(
        "owner/experiments/<slug:slug>/settings/", owner.experiment_settings, name="owner-settings"
    ),
    path("owner/experiments/<slug:slug>/rubric/", owner.experiment_dimensions, name="owner-rubric"),
    path("owner/experiments/<slug:slug>/clone/", owner.experiment_clone, name="owner-clone"),
    path("owner/experiments/<slug:slug>/delete/", owner.experiment_delete, name="owner-delete"),
    path("owner/experiments/<slug:slug>/status/", owner.experiment_status, name="owner-status"),
    path("owner/experiments/<slug:slug>/sharing/", owner.experiment_sharing, name="owner-sharing"),
    path("owner/experiments/<slug:slug>/leaks/", owner.experiment_leaks, name="owner-leaks"),
    path(
        "owner/experiments/<slug:slug>/reviewers/",
        owner.experiment_reviewers,
        name="owner-reviewers",
    ),
    path(
        "owner/experiments/<slug:slug>/reviewers/accounts/",
        owner.experiment_reviewer_account,
        name="owner-reviewer-account",
    ),
    # Upload -> pairs
    path("owner/experiments/<slug:slug>/upload/", uploads.upload_pairs, name="owner-upload"),
    path(
        "owner/experiments/<slug:slug>/upload/jobs/<int:job_id>/",
        uploads.upload_job,
        name="owner-upload-job",
    ),
    path(
        "owner/experiments/<slug:slug>/upload/jobs/<int:job_id>/import/",
        uploads.import_checked_upload,
        name="owner-upload-import",
    ),
    path(
        "owner/experiments/<slug:slug>/judgments/import/",
        judgment_import.judgment_upload,
        name="owner-judgment-upload",
    ),
    path(
        "owner/experiments/<slug:slug>/judgments/import/confirm/",
        judgment_import.judgment_import,
        name="owner-judgment-import",
    ),
    path(
        "owner/experiments/<slug:slug>/reviewer-dashboard/",
        dashboard.reviewer_dashboard,
        name="owner-reviewer-dashboard",
    ),
    path(
        "owner/experiments/<slug:slug>/reviewer-dashboard/<int:membership_id>/remove/",
        dashboard.reviewer_remove,
        name="owner-reviewer-remove",
    ),
    # Pairs as owners browse them
    path("owner/experiments/<slug:slug>/pairs/", pairs.pair_list, name="owner-pairs"),
    path(
        "owner/experiments/<slug:slug>/pairs/<path:pair_id>/",
        pairs.pair_detail,
        name="owner-pair",
    ),
    path(
        "owner/experiments/<slug:slug>/disagreements/",
        pairs.disagreement_list,
        name="owner-disagreements",
    ),
    path(
        "owner/experiments/<slug:slug>/disagreements.csv",
        pairs.disagreements_csv,
        name="export-disagreements",
    ),
    # Invite links: owners manage them, external reviewers join through them
    path("owner/experiments/<slug:slug>/invites/", invites.invite_links, name="owner-invites"),
    path(
        "owner/experiments/<slug:slug>/invites/<int:invite_id>/revoke/",
        invites.revoke_invite,
        name="owner-invite-revoke",
    ),
    path("join/<str:token>/", invites.join, name="invite-join"),
    path("join/<str:token>/welcome/", invites.welcome, name="invite-welcome"),
    # Review: the experiment's opaque review key, never its slug (owners write model names
    # into slugs, and reviewers see their address bar)
    path("review/", review.review_home, name="review-home"),
    path("review/<slug:review_key>/", review.review_pair, name="review-pair"),
    path(
        "review/<slug:review_key>/<int:assignment_id>/submit/",
        review.submit_pair,
        name="review-submit",
    ),
    path(
        "review/<slug:review_key>/<int:assignment_id>/skip/", review.skip_pair, name="review-skip"
    ),
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
    path(
        "owner/experiments/<slug:slug>/preferences/",
        preferences.preference_export,
        name="owner-preferences",
    ),
    path(
        "owner/experiments/<slug:slug>/preferences.jsonl",
        preferences.preferences_jsonl,
        name="export-preferences",
    ),
    # JSON API (token auth; schema at api/openapi.json, docs at api/docs)
    path("api/", api.urls()),
]
