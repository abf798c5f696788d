"""Judgments in the minimal format (pair_id, reviewer/rater, winner, ...), imported on the
web page (preview, then confirm) and through the API: the published PandaLM rater file as
it is published, its kappas through the app's results, and row+column refusals."""

import io
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from reviewapp.experiments import create_experiment
from reviewapp.judgment_import import JudgmentImportError, import_judgments, preview_judgments
from reviewapp.models import Assignment, Judgment, Membership
from reviewapp.results import compute_results
from reviewapp.tokens import create_token
from reviewapp.uploads import import_upload
from tests.conftest import make_experiment, make_user

PUBLISHED = Path(__file__).parent / "resources" / "published"
RATERS = PUBLISHED / "pandalm_raters.csv"  # the file exactly as /work/shared/data publishes it


def upload(name: str, text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def post_file(client, slug, name, text, kind="human"):
    url = reverse("owner-judgment-upload", args=[slug])
    return client.post(url, {"file": upload(name, text), "kind": kind})


@pytest.fixture
def pandalm(owner):
    experiment = create_experiment(
        owner=owner, name="PandaLM", slug="pandalm", dimensions=["overall"], reviews_per_pair=3
    )
    import_upload(experiment, PUBLISHED / "pandalm_pairs.csv", pairing="all")
    return experiment


@pytest.mark.django_db
def test_pandalm_rater_file_imports_as_published_through_the_page(pandalm, owner, client):
    """pair_id, rater, winner, label_raw: previewed, confirmed, then the README's pairwise
    Cohen's kappas 0.85 / 0.88 / 0.86 come out of the app's results."""
    assert RATERS.read_text().splitlines()[0] == "pair_id,rater,winner,label_raw"
    client.force_login(owner)
    response = post_file(client, "pandalm", "pandalm_judgments.csv", RATERS.read_text())
    html = response.content.decode()
    assert response.status_code == 200 and 'id="preview"' in html
    assert "Would import 2,997 judgments (2,997 pair reviews) by 3 reviewer(s)" in html
    assert Judgment.objects.count() == 0  # a preview writes nothing
    token = response.context["token"]
    response = client.post(
        reverse("owner-judgment-import", args=["pandalm"]), {"token": token, "kind": "human"}
    )
    assert response.status_code == 302
    assert Judgment.objects.filter(assignment__experiment=pandalm).count() == 2997
    assert not Assignment.objects.filter(left_is_a__isnull=False).exists()  # side unknown
    overall = compute_results(pandalm, n_resamples=0)["dimensions"]["overall"]
    kappas = {
        (d["reviewer_1"], d["reviewer_2"]): round(d["kappa"], 2)
        for d in overall["agreement"]["cohen_pairs_detail"]
    }
    assert kappas == {
        ("annotator1", "annotator2"): 0.85,
        ("annotator1", "annotator3"): 0.88,
        ("annotator2", "annotator3"): 0.86,
    }
    # The same figures as the export-format file the command imports (3 d.p.).
    assert sorted(round(d["kappa"], 3) for d in overall["agreement"]["cohen_pairs_detail"]) == [
        0.852, 0.862, 0.879,
    ]  # fmt: skip
    # The token is spent: confirming again imports nothing twice.
    again = client.post(
        reverse("owner-judgment-import", args=["pandalm"]), {"token": token, "kind": "human"}
    )
    assert again.status_code == 302
    assert Judgment.objects.filter(assignment__experiment=pandalm).count() == 2997


@pytest.mark.django_db
def test_minimal_rows_fill_models_dimension_and_optional_columns(owner):
    experiment = make_experiment(owner, n_pairs=3, dimensions=["helpful", "style"])
    text = (
        "pair_id,reviewer,winner,dimension,strength,rationale,submitted_at\n"
        "p00000,ann,a,,clear,shorter,2024-05-01T12:00:00+00:00\n"
        "p00000,ann,B,style,,,2024-05-01T12:00:00+00:00\n"
        "p00001,ann,yak-tuned-7b,,slight,,\n"
        "p00002,bob,TIE,,,,\n"
    )
    result = import_judgments(experiment, io.BytesIO(text.encode()))
    assert result.judgments_created == 4 and result.reviewers_created == ["ann", "bob"]
    got = {
        (j.assignment.pair.external_id, j.assignment.reviewer.username, j.dimension.name): (
            j.choice, j.strength,
        )
        for j in Judgment.objects.select_related("assignment__pair", "assignment__reviewer",
                                                 "dimension")
    }  # fmt: skip
    assert got == {
        ("p00000", "ann", "helpful"): ("A", "clear"),
        ("p00000", "ann", "style"): ("B", ""),
        ("p00001", "ann", "helpful"): ("B", "slight"),
        ("p00002", "bob", "helpful"): ("tie", ""),
    }
    first = Assignment.objects.get(pair__external_id="p00000")
    assert first.rationale == "shorter" and first.submitted_at.year == 2024


@pytest.mark.django_db
def test_minimal_refusals_name_row_and_column_and_write_nothing(owner, client):
    experiment = make_experiment(owner, n_pairs=2)
    text = (
        "pair_id,rater,winner,strength\n"
        "p00000,ann,a,\n"
        "nope,ann,a,\n"  # line 3: unknown pair
        "p00001,ann,gpt-4,\n"  # line 4: winner is neither model
        "p00001,bob,a,huge\n"  # line 5: strength
    )
    with pytest.raises(JudgmentImportError) as caught:
        import_judgments(experiment, io.BytesIO(text.encode()))
    shown = {(e.row, e.column) for e in caught.value.errors}
    assert shown == {(3, "pair_id"), (4, "winner"), (5, "strength")}
    assert "'zebra-base-7b' (model_a), 'yak-tuned-7b' (model_b), 'a', 'b' or 'tie'" in str(
        caught.value
    )
    assert not Assignment.objects.exists() and not Membership.objects.exists()
    client.force_login(owner)
    html = post_file(client, experiment.slug, "j.csv", text).content.decode()
    assert "No judgment was imported" in html and "line 4, column winner" in html
    assert 'id="preview"' not in html


@pytest.mark.django_db
def test_header_fitting_neither_format_lists_found_and_nearest_columns(owner):
    experiment = make_experiment(owner, n_pairs=1)
    text = "pair,reviwer,winer\np00000,ann,a\n"
    with pytest.raises(JudgmentImportError) as caught:
        preview_judgments(experiment, io.BytesIO(text.encode()))
    message = str(caught.value)
    assert "the header has pair, reviwer, winer" in message
    assert "pair -> pair_id?" in message and "reviwer -> reviewer?" in message
    assert "winer -> winner?" in message and "minimal format" in message


@pytest.mark.django_db
def test_page_checks_ownership_and_hostile_names_are_escaped(owner, client):
    experiment = make_experiment(owner, n_pairs=1)
    stranger = make_user("stranger", owner=True)
    client.force_login(stranger)
    assert client.get(reverse("owner-judgment-upload", args=[experiment.slug])).status_code == 404
    client.force_login(owner)
    token = post_file(client, experiment.slug, "j.csv", "pair_id,rater,winner\np00000,ann,a\n")
    token = token.context["token"]
    # Another owner cannot confirm that file into their experiment, nor into this one.
    client.force_login(stranger)
    other = make_experiment(stranger, slug="other", n_pairs=1)
    response = client.post(
        reverse("owner-judgment-import", args=[other.slug]), {"token": token, "kind": "human"}
    )
    assert response.status_code == 302 and not Judgment.objects.exists()
    response = client.post(
        reverse("owner-judgment-import", args=[experiment.slug]), {"token": token, "kind": "human"}
    )
    assert response.status_code == 404
    client.force_login(owner)
    hostile = "<script>alert(1)</script>\u202e"
    html = post_file(
        client, experiment.slug, "<b>x</b>.csv", f'pair_id,rater,winner\np00000,"{hostile}",a\n'
    ).content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert "<b>x</b>" not in html


@pytest.mark.django_db
def test_api_dry_run_then_import(owner, client):
    experiment = make_experiment(owner, n_pairs=2)
    token = create_token(owner)[1]
    headers = {"Authorization": f"Bearer {token}"}
    body = "pair_id,rater,winner\np00000,ann,a\np00001,ann,tie\n"
    url = f"/api/experiments/{experiment.slug}/judgments"
    response = client.post(
        f"{url}?dry_run=true", data=body, content_type="text/csv", headers=headers
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["committed"], data["judgments"], data["new_users"]) == (False, 2, ["ann"])
    assert not Judgment.objects.exists()
    response = client.post(
        f"{url}?kind=automatic", data=body, content_type="text/csv", headers=headers
    )
    assert response.json()["committed"] is True and Judgment.objects.count() == 2
    assert Membership.objects.get(user__username="ann").kind == "automatic"
    # All or nothing: one wrong row refuses the file, naming it.
    bad = "pair_id,rater,winner\np00000,bob,a\np00001,bob,c\n"
    response = client.post(url, data=bad, content_type="text/csv", headers=headers)
    assert response.status_code == 400
    assert json.loads(response.content)["rows"][0] | {"message": ""} == {
        "row": 3, "column": "winner", "message": "",
    }  # fmt: skip
    assert Judgment.objects.count() == 2
    # Someone else's experiment is not found.
    other = create_token(make_user("stranger", owner=True))[1]
    response = client.post(
        url, data=body, content_type="text/csv", headers={"Authorization": f"Bearer {other}"}
    )
    assert response.status_code == 404
