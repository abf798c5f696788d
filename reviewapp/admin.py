from django.contrib import admin

from .models import (
    ApiToken,
    Assignment,
    Dimension,
    Experiment,
    InviteLink,
    Judgment,
    Membership,
    Pair,
)


class DimensionInline(admin.TabularInline):
    model = Dimension
    extra = 0


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "owner",
        "status",
        "reviews_per_pair",
        "baseline_model",
        "created_at",
    ]
    list_filter = ["status", "allow_ties", "ask_strength"]
    search_fields = ["name", "slug", "owner__username"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [DimensionInline, MembershipInline]


@admin.register(Pair)
class PairAdmin(admin.ModelAdmin):
    list_display = ["external_id", "experiment", "model_a", "model_b", "slots_taken"]
    list_filter = ["experiment", "model_a", "model_b"]
    search_fields = ["external_id", "prompt", "model_a", "model_b"]
    list_select_related = ["experiment"]
    readonly_fields = ["slots_taken", "shuffle_key"]


class JudgmentInline(admin.TabularInline):
    model = Judgment
    extra = 0


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["pair", "reviewer", "status", "left_is_a", "shown_at", "submitted_at"]
    list_filter = ["status", "experiment", "left_is_a"]
    search_fields = ["pair__external_id", "reviewer__username"]
    list_select_related = ["pair__experiment", "reviewer"]
    raw_id_fields = ["pair", "reviewer", "experiment"]
    inlines = [JudgmentInline]


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = ["assignment", "dimension", "choice", "strength"]
    list_filter = ["choice", "strength", "assignment__experiment"]
    search_fields = ["assignment__pair__external_id", "assignment__reviewer__username"]
    list_select_related = ["assignment__pair__experiment", "assignment__reviewer", "dimension"]
    raw_id_fields = ["assignment", "dimension"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "experiment", "kind", "excluded", "joined_at"]
    list_filter = ["kind", "excluded", "experiment"]
    search_fields = ["user__username", "experiment__slug"]
    list_select_related = ["user", "experiment"]


@admin.register(InviteLink)
class InviteLinkAdmin(admin.ModelAdmin):
    list_display = ["label", "experiment", "created_at", "expires_at", "revoked_at", "quota"]
    list_filter = ["experiment"]
    search_fields = ["label", "experiment__slug"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["prefix", "name", "user__username"]
    readonly_fields = ["key_hash", "prefix"]  # the token itself is never stored
