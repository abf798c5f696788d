from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Count
from django.forms.formsets import ORDERING_FIELD_NAME

from .experiments import DimensionError, clean_dimension_names
from .models import DEFAULT_DIMENSIONS, Dimension, Experiment
from .results.by_tag import check_tag_field

RENDER_MODE_HELP = (
    "Both outputs of a pair always look alike. Markdown: formatted as on GitHub, with "
    "every line break and indentation kept. Plain text: exactly as written, nothing "
    "formatted. Changing it mid-study changes what later reviewers see."
)

# Assignment settings whose blank means their default (spread, no calibration, no repeats).
ASSIGNMENT_SETTINGS = ("assignment_strategy", "calibration_pairs", "repeat_rate")

# Far more than any rubric needs; positions are small integers in the database.
MAX_DIMENSIONS = 50


class ExperimentForm(forms.ModelForm):
    class Meta:
        model = Experiment
        fields = [
            "name", "reviewer_title", "slug", "instructions", "reviews_per_pair", "allow_ties",
            "require_rationale", "ask_strength", "ask_acceptable", "baseline_model", "gold_rate",
            "too_fast_seconds", "margin", "tag_field",
            "render_mode",
            "assignment_strategy", "calibration_pairs", "repeat_rate",
        ]  # fmt: skip
        widgets = {"instructions": forms.Textarea(attrs={"rows": 5})}
        labels = {
            "render_mode": "Show prompts and outputs as",
            "margin": "Non-inferiority margin",
            "tag_field": "Results by tag: metadata field",
            "assignment_strategy": "Assignment strategy",
            "calibration_pairs": "Calibration pairs",
            "repeat_rate": "Swapped repeats (share)",
            "reviewer_title": "Title for reviewers",
        }
        help_texts = {
            "name": "For you and other owners; reviewers never see it.",
            "reviewer_title": (
                "What reviewers see as the experiment's title. Leave empty for a neutral "
                "“Comparison <number>”; never name the models here."
            ),
            "slug": "Used in URLs and exports. Leave empty to derive it from the name.",
            "baseline_model": "Optional: results orient every comparison against this model.",
            "render_mode": RENDER_MODE_HELP,
            "assignment_strategy": (
                "Spread gives every pair its first review before any gets a second. "
                "Complete pairs first finishes the pairs already started, so agreement "
                "can be measured early."
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["reviews_per_pair"].min_value = 1
        self.fields["reviews_per_pair"].max_value = 100
        self.fields["reviews_per_pair"].widget.attrs.update(min=1, max=100)
        # Blank means the documented default (10 % gold, 5 s, Markdown).
        for name in (
            "gold_rate",
            "too_fast_seconds",
            "render_mode",
            "margin",
            *ASSIGNMENT_SETTINGS,
        ):
            self.fields[name].required = False
        self.fields["gold_rate"].validators += [MinValueValidator(0), MaxValueValidator(1)]
        self.fields["repeat_rate"].validators += [MinValueValidator(0), MaxValueValidator(0.5)]
        self.fields["repeat_rate"].widget.attrs.update(min=0, max=0.5, step="any")
        self.fields["too_fast_seconds"].validators += [MinValueValidator(0)]
        self.fields["margin"].validators += [MinValueValidator(0), MaxValueValidator(0.25)]

    def _default_if_blank(self, name):
        value = self.cleaned_data.get(name)
        return Experiment._meta.get_field(name).get_default() if value in (None, "") else value

    def clean_gold_rate(self):
        return self._default_if_blank("gold_rate")

    def clean_too_fast_seconds(self):
        return self._default_if_blank("too_fast_seconds")

    def clean_margin(self):
        return self._default_if_blank("margin")

    def clean_tag_field(self):
        try:
            return check_tag_field(self.cleaned_data["tag_field"])
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error

    def clean_render_mode(self):
        return self._default_if_blank("render_mode")

    def clean_assignment_strategy(self):
        return self._default_if_blank("assignment_strategy")

    def clean_calibration_pairs(self):
        return self._default_if_blank("calibration_pairs")

    def clean_repeat_rate(self):
        return self._default_if_blank("repeat_rate")

    def clean_slug(self):
        # Left empty on the settings page, the slug stays what it was: an empty slug would
        # be saved, and no URL can name the experiment any more.
        slug = self.cleaned_data["slug"]
        if not slug and self.instance.pk:
            return self.instance.slug
        return slug


class NewExperimentForm(ExperimentForm):
    dimensions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        initial="\n".join(DEFAULT_DIMENSIONS),
        help_text="One rubric dimension per line, in the order reviewers see them.",
    )

    def clean_dimensions(self):
        lines = self.cleaned_data["dimensions"].splitlines()
        if sum(1 for line in lines if line.strip()) > MAX_DIMENSIONS:
            raise forms.ValidationError(f"At most {MAX_DIMENSIONS} dimensions, please.")
        try:
            return clean_dimension_names(lines)
        except DimensionError as error:
            raise forms.ValidationError(str(error)) from error


class BaseRubricFormSet(forms.BaseModelFormSet):
    """The rubric page: one form per dimension (name, order, remove) and blank ones to add.
    Saved by experiments.save_rubric from `rubric()` and `removed()`."""

    def __init__(self, data=None, *, experiment: Experiment, **kwargs):
        # n_judgments decides whether "Remove" is offered, and is checked again on save.
        queryset = experiment.dimensions.annotate(n_judgments=Count("judgments"))
        super().__init__(data, queryset=queryset.order_by("position"), **kwargs)

    def add_fields(self, form, index):
        super().add_fields(form, index)
        # Decimal order numbers let an owner slot a dimension between two others (2.5)
        # without renumbering the rest; equal numbers keep the rows' order.
        order = form.fields[ORDERING_FIELD_NAME]
        form.fields[ORDERING_FIELD_NAME] = forms.FloatField(
            label="Order",
            initial=order.initial,
            required=False,
            widget=forms.NumberInput(attrs={"step": "any", "class": "order-input"}),
        )
        if form.instance.pk:
            what = form.instance.name
            form.fields["DELETE"].widget.attrs["aria-label"] = f"Remove {what}"
            if form.instance.n_judgments:
                # Only the browser is told; a forced "remove" still meets clean()'s refusal.
                form.fields["DELETE"].widget.attrs["disabled"] = True
        else:
            what = f"new dimension {(index or 0) - self.initial_form_count() + 1}"
            form.fields["name"].widget.attrs["placeholder"] = "New dimension"
        for name, label in ((ORDERING_FIELD_NAME, "Order of"), ("name", "Name of")):
            form.fields[name].widget.attrs["aria-label"] = f"{label} {what}"

    def clean(self):
        if not self.management_form.is_valid():
            return  # Django's own error says what is wrong; ours would replace it
        super().clean()
        # A row posted as an existing dimension that this experiment does not have (any
        # more): Django would quietly make it a new one, but the page is out of date.
        if any(not form.instance.pk for form in self.forms[: self.initial_form_count()]):
            raise forms.ValidationError(
                "The rubric was changed meanwhile (on another page or by another owner); "
                "reload the page and make your changes again."
            )
        refused = [
            f"“{form.initial['name']}” already has judgments and cannot be removed; rename it "
            "instead."
            for form in self.forms
            if self._should_delete_form(form) and getattr(form.instance, "n_judgments", 0)
        ]
        if refused:
            raise forms.ValidationError(refused)
        kept = [
            form
            for i, form in enumerate(self.forms)
            if not self._should_delete_form(form)
            and (i < self.initial_form_count() or form.has_changed())
        ]
        if not kept:
            raise forms.ValidationError("An experiment needs at least one dimension.")
        seen = set()
        for form in kept:
            name = form.cleaned_data.get("name")
            if name and name.lower() in seen:
                form.add_error("name", f"“{name}” is listed twice.")
            elif name:
                seen.add(name.lower())

    def rubric(self) -> list[Dimension]:
        """The dimensions to keep or add, names as edited, in the order asked for."""
        return [form.instance for form in self.ordered_forms]

    def removed(self) -> list[Dimension]:
        return [form.instance for form in self.deleted_forms if form.instance.pk]


RubricFormSet = forms.modelformset_factory(
    Dimension,
    fields=["name"],
    formset=BaseRubricFormSet,
    extra=2,
    can_order=True,
    can_delete=True,
    can_delete_extra=False,
    max_num=MAX_DIMENSIONS,
    validate_max=True,
    # Posted forms beyond this are refused before any is built.
    absolute_max=MAX_DIMENSIONS + 10,
)


class AddReviewersForm(forms.Form):
    usernames = forms.CharField(
        label="Reviewers to invite",
        help_text="Usernames, separated by commas or new lines.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean_usernames(self):
        """The known users; the names nobody has go to `self.unknown` (the owner corrects
        them, the known ones are invited meanwhile)."""
        names = {n.strip() for n in self.cleaned_data["usernames"].replace(",", "\n").splitlines()}
        names.discard("")
        users = list(get_user_model().objects.filter(username__in=names))
        self.unknown = sorted(names - {u.username for u in users})
        return users


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Experiment.Status.choices)
    # Opening with possible identity leaks unresolved needs this ticked.
    confirm_leaks = forms.BooleanField(required=False)
