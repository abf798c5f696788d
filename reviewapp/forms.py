from django import forms
from django.contrib.auth import get_user_model

from .experiments import DimensionError, clean_dimension_names
from .models import DEFAULT_DIMENSIONS, Experiment


class ExperimentForm(forms.ModelForm):
    class Meta:
        model = Experiment
        fields = [
            "name", "slug", "instructions", "reviews_per_pair", "allow_ties",
            "require_rationale", "ask_strength", "baseline_model",
        ]  # fmt: skip
        widgets = {"instructions": forms.Textarea(attrs={"rows": 5})}
        help_texts = {
            "slug": "Used in URLs and exports. Leave empty to derive it from the name.",
            "baseline_model": "Optional: results orient every comparison against this model.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["reviews_per_pair"].min_value = 1
        self.fields["reviews_per_pair"].max_value = 100
        self.fields["reviews_per_pair"].widget.attrs.update(min=1, max=100)


class NewExperimentForm(ExperimentForm):
    dimensions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        initial="\n".join(DEFAULT_DIMENSIONS),
        help_text="One rubric dimension per line, in the order reviewers see them.",
    )

    def clean_dimensions(self):
        try:
            return clean_dimension_names(self.cleaned_data["dimensions"].splitlines())
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
