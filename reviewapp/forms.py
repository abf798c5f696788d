from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import MaxValueValidator, MinValueValidator

from .experiments import DimensionError, clean_dimension_names
from .models import DEFAULT_DIMENSIONS, Experiment

RENDER_MODE_HELP = (
    "Both outputs of a pair always look alike. Markdown: formatted as on GitHub, with "
    "every line break and indentation kept. Plain text: exactly as written, nothing "
    "formatted. Changing it mid-study changes what later reviewers see."
)

# Far more than any rubric needs; positions are small integers in the database.
MAX_DIMENSIONS = 50


class ExperimentForm(forms.ModelForm):
    class Meta:
        model = Experiment
        fields = [
            "name", "reviewer_title", "slug", "instructions", "reviews_per_pair", "allow_ties",
            "require_rationale", "ask_strength", "baseline_model", "gold_rate",
            "too_fast_seconds",
            "render_mode",
        ]  # fmt: skip
        widgets = {"instructions": forms.Textarea(attrs={"rows": 5})}
        labels = {
            "render_mode": "Show prompts and outputs as",
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
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["reviews_per_pair"].min_value = 1
        self.fields["reviews_per_pair"].max_value = 100
        self.fields["reviews_per_pair"].widget.attrs.update(min=1, max=100)
        # Blank means the documented default (10 % gold, 5 s, Markdown).
        for name in ("gold_rate", "too_fast_seconds", "render_mode"):
            self.fields[name].required = False
        self.fields["gold_rate"].validators += [MinValueValidator(0), MaxValueValidator(1)]
        self.fields["too_fast_seconds"].validators += [MinValueValidator(0)]

    def _default_if_blank(self, name):
        value = self.cleaned_data.get(name)
        return Experiment._meta.get_field(name).get_default() if value in (None, "") else value

    def clean_gold_rate(self):
        return self._default_if_blank("gold_rate")

    def clean_too_fast_seconds(self):
        return self._default_if_blank("too_fast_seconds")

    def clean_render_mode(self):
        return self._default_if_blank("render_mode")

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


class AddReviewersForm(forms.Form):
    usernames = forms.CharField(
        label="Reviewers to invite",
        help_text="Usernames, separated by commas or new lines.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean_usernames(self):
        names = {n.strip() for n in self.cleaned_data["usernames"].replace(",", "\n").splitlines()}
        names.discard("")
        users = list(get_user_model().objects.filter(username__in=names))
        missing = names - {u.username for u in users}
        if missing:
            raise forms.ValidationError(f"No user named: {', '.join(sorted(missing))}.")
        return users


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Experiment.Status.choices)
    # Opening with possible identity leaks unresolved needs this ticked.
    confirm_leaks = forms.BooleanField(required=False)
