"""Owners browse their pairs: the list with filters, one pair's judgments, disagreements."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from ..access import get_experiment_for_owner
from ..exports import stream_csv, streamed_download
from ..models import Pair
from ..pairs import (
    SORTS,
    STATUSES,
    PairEditRefused,
    PairFilter,
    agreement_dimension,
    delete_pair,
    disagreements,
    edit_pair,
    filter_pairs,
    has_judgments,
    judgments_by_pair,
    metadata_keys,
    model_pairs,
    pair_judgments,
)
from ..rendering import render_text
from ..uploads import batches

PAGE_SIZE = 50
YES_NO = [("", "Any"), ("yes", "Yes"), ("no", "No")]


class PairFilterForm(forms.Form):
    text = forms.CharField(required=False, max_length=200, label="Search")
    models = forms.ChoiceField(required=False, label="Models")
    field = forms.ChoiceField(required=False, label="Metadata field")
    value = forms.CharField(required=False, max_length=200, label="equals")
    status = forms.ChoiceField(required=False, choices=[("", "Any"), *STATUSES.items()])
    gold = forms.ChoiceField(required=False, choices=YES_NO, label="Gold")
    leak = forms.ChoiceField(required=False, choices=YES_NO, label="Leak flag")
    agreement = forms.ChoiceField(
        required=False,
        choices=[("", "Any"), ("unanimous", "Unanimous"), ("split", "Split")],
    )
    dimension = forms.ChoiceField(required=False, label="Agreement on")
    sort = forms.ChoiceField(required=False, choices=list(SORTS.items()))

    def __init__(self, experiment, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["models"].choices = [("", "Any")] + [(m, m) for m in model_pairs(experiment)]
        self.fields["field"].choices = [("", "—")] + [(k, k) for k in metadata_keys(experiment)]
        names = experiment.dimensions.order_by("position").values_list("name", flat=True)
        self.fields["dimension"].choices = [(n, n) for n in names]


class PairEditForm(forms.ModelForm):
    class Meta:
        model = Pair
        fields = ["prompt", "output_a", "output_b"]
        widgets = {name: forms.Textarea(attrs={"rows": 6}) for name in fields}


class OwnerNoteForm(forms.ModelForm):
    class Meta:
        model = Pair
        fields = ["owner_note"]
        widgets = {"owner_note": forms.Textarea(attrs={"rows": 2})}
        labels = {"owner_note": "Your note"}


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@login_required
@require_GET
def pair_list(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    form = PairFilterForm(experiment, request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    flt = PairFilter(**{k: data.get(k) or "" for k in PairFilter.__dataclass_fields__})
    if not flt.sort:
        flt = PairFilter(**{**flt.__dict__, "sort": "upload"})
    dimension = agreement_dimension(experiment, data.get("dimension") or "")
    page = _page(request, filter_pairs(experiment, flt, dimension))
    context = {
        "experiment": experiment,
        "form": form,
        "page": page,
        "dimension": dimension,
        "query": _query_without_page(request),
        "statuses": STATUSES,
    }
    return render(request, "pairs/list.html", context)


def _owned_pair(request, slug, pair_id) -> tuple:
    experiment = get_experiment_for_owner(request.user, slug)
    if "\x00" in pair_id:
        raise Http404("No such pair.")
    return experiment, get_object_or_404(Pair, experiment=experiment, external_id=pair_id)


@login_required
@require_http_methods(["GET", "POST"])
def pair_detail(request, slug, pair_id):
    experiment, pair = _owned_pair(request, slug, pair_id)
    edit_form = PairEditForm(instance=pair)
    note_form = OwnerNoteForm(instance=pair)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "note":
                note_form = OwnerNoteForm(request.POST, instance=pair)
                if note_form.is_valid():
                    note_form.save()
                    messages.success(request, "Note saved.")
                    return redirect(request.POST.get("next") or request.path)
            elif action == "edit":
                edit_form = PairEditForm(request.POST, instance=Pair(pk=pair.pk))
                if edit_form.is_valid():
                    edit_pair(pair, **edit_form.cleaned_data)
                    messages.success(request, "Pair updated.")
                    return redirect(request.path)
            elif action == "delete":
                delete_pair(pair)
                messages.success(request, f"Pair {pair.external_id} deleted.")
                return redirect("owner-pairs", experiment.slug)
            else:
                messages.error(request, "Unknown action.")
        except PairEditRefused as refused:
            messages.error(request, str(refused))
            return redirect(request.path)
    context = {
        "experiment": experiment,
        "pair": pair,
        "judgments": pair_judgments(pair),
        "dimensions": list(experiment.dimensions.order_by("position")),
        "editable": not has_judgments(pair),
        # As reviewers see them: the experiment's render mode.
        "prompt_html": render_text(pair.prompt, experiment.render_mode),
        "output_a_html": render_text(pair.output_a, experiment.render_mode),
        "output_b_html": render_text(pair.output_b, experiment.render_mode),
        "edit_form": edit_form,
        "note_form": note_form,
    }
    return render(request, "pairs/detail.html", context)


@login_required
@require_GET
def disagreement_list(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    dimension = agreement_dimension(experiment, request.GET.get("dimension", ""))
    page = _page(request, disagreements(experiment, dimension))
    judgments = judgments_by_pair(experiment.pk, page)
    for pair in page:
        pair.judgment_rows = judgments[pair.pk]
        pair.note_form = OwnerNoteForm(instance=pair)
    context = {
        "experiment": experiment,
        "dimension": dimension,
        "dimensions": list(experiment.dimensions.order_by("position")),
        "page": page,
        "query": _query_without_page(request),
    }
    return render(request, "pairs/disagreements.html", context)


DISAGREEMENT_COLUMNS = [
    "pair_id", "dimension", "model_a", "model_b", "judgments", "a_wins", "b_wins", "ties",
    "dissent", "owner_note", "prompt", "output_a", "output_b", "rationales",
]  # fmt: skip


def disagreement_rows(experiment, dimension):
    pairs = disagreements(experiment, dimension).iterator(chunk_size=500)
    for batch in batches(pairs, 500):
        judgments = judgments_by_pair(experiment.pk, batch)
        for pair in batch:
            yield _disagreement_row(pair, dimension, judgments[pair.pk])


def _disagreement_row(pair, dimension, judgments) -> list:
    rationales = [f"{row.reviewer}: {row.rationale}" for row in judgments if row.rationale]
    return [
        pair.external_id, dimension.name, pair.model_a, pair.model_b, pair.n_judged,
        pair.n_a, pair.n_b, pair.n_tie, round(pair.dissent, 4), pair.owner_note,
        pair.prompt, pair.output_a, pair.output_b, "\n".join(rationales),
    ]  # fmt: skip


@login_required
@require_GET
def disagreements_csv(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    dimension = agreement_dimension(experiment, request.GET.get("dimension", ""))
    if dimension is None:
        raise Http404("No dimension.")
    chunks = stream_csv(DISAGREEMENT_COLUMNS, disagreement_rows(experiment, dimension))
    return streamed_download(chunks, f"{experiment.slug}-disagreements.csv")
