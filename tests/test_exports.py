import csv
import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from reviewapp.assignment import next_assignment
from reviewapp.exports import JUDGMENT_COLUMNS, neutralise_cell
from reviewapp.judgments import Answer, record_submission
from reviewapp.models import Pair
from tests.conftest import make_experiment, make_user

EXPECTED_COLUMNS = (
    "experiment,pair_id,reviewer,dimension,model_a,model_b,left_model,choice,winner,"
    "submitted_at,seconds_on_pair,rationale,strength,excluded,repeat,a_acceptable,b_acceptable"
).split(",")


@pytest.mark.parametrize(
    "value,expected",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("plain text", "plain text"),
        (12.5, 12.5),
    ],
)
def test_neutralise_cell(value, expected):
    assert neutralise_cell(value) == expected


@pytest.fixture
def judged(owner):
    experiment = make_experiment(owner, n_pairs=3, reviews_per_pair=2, ask_strength=True,
                                 models=("=evil()", "good-model"))  # fmt: skip
    reviewers = [make_user("ann"), make_user("+ben")]
    dims = list(experiment.dimensions.all())
    for reviewer in reviewers:
        while (assignment := next_assignment(experiment, reviewer)) is not None:
            answers = {d.pk: Answer("left", "slight") for d in dims}
            answers[dims[1].pk] = Answer("tie")
            record_submission(assignment.pk, reviewer, answers, rationale="-because")
    return experiment


def read_csv(text):
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.django_db
def test_export_columns_values_and_neutralising(client, owner, judged):
    client.force_login(owner)
    response = client.get(reverse("export-judgments", args=[judged.slug]))
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = read_csv(b"".join(response.streaming_content).decode())
    assert rows[0] == EXPECTED_COLUMNS == JUDGMENT_COLUMNS
    body = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert len(body) == 3 * 2 * 5
    pairs = {p.external_id: p for p in Pair.objects.all()}
    for row in body:
        pair = pairs[row["pair_id"]]
        assert row["model_a"] == "'=evil()" and row["model_b"] == "good-model"
        assert row["reviewer"] in ("ann", "'+ben")
        assert row["rationale"] == "'-because"
        if row["dimension"] == "accuracy":
            assert (row["choice"], row["winner"], row["strength"]) == ("tie", "tie", "")
        else:
            assert row["choice"] == "left" and row["strength"] == "slight"
            # The left model is the winner, named as the pair has it.
            assert row["winner"] == row["left_model"]
            assert row["left_model"].lstrip("'") in (pair.model_a, pair.model_b)
        assert float(row["seconds_on_pair"]) >= 0
        assert row["submitted_at"]
        assert (row["a_acceptable"], row["b_acceptable"]) == ("", "")  # not asked


@pytest.mark.django_db
def test_export_command_matches_web_export(client, owner, judged, tmp_path):
    out = tmp_path / "j.csv"
    said = io.StringIO()
    call_command("export_judgments", judged.slug, "-o", str(out), stderr=said)
    assert f"Wrote {3 * 2 * 5} judgment rows" in said.getvalue()
    client.force_login(owner)
    web = b"".join(client.get(reverse("export-judgments", args=[judged.slug])).streaming_content)
    assert read_csv(out.read_text()) == read_csv(web.decode())


@pytest.mark.django_db
def test_export_is_for_the_owner_only(client, judged):
    client.force_login(make_user("nosy", owner=True))
    assert client.get(reverse("export-judgments", args=[judged.slug])).status_code == 404


@pytest.mark.django_db
def test_assignments_audit_trail(client, owner, judged):
    from reviewapp.assignment import skip_assignment
    from reviewapp.exports import ASSIGNMENT_COLUMNS

    extra = Pair.objects.create(
        experiment=judged, external_id="extra", prompt="p", model_a="=evil()", model_b="good-model"
    )
    skipper = make_user("skipper")
    skip_assignment(next_assignment(judged, skipper))
    client.force_login(owner)
    response = client.get(reverse("export-assignments", args=[judged.slug]))
    rows = read_csv(b"".join(response.streaming_content).decode())
    assert rows[0] == ASSIGNMENT_COLUMNS
    body = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert len(body) == 7
    skipped = [r for r in body if r["status"] == "skipped"]
    assert len(skipped) == 1 and skipped[0]["pair_id"] == extra.external_id
    assert skipped[0]["reviewer"] == "skipper" and skipped[0]["seconds_on_pair"] == ""
    for row in body:
        assert row["left_model"].lstrip("'") in ("=evil()", "good-model")
        if row["status"] == "submitted":
            assert float(row["seconds_on_pair"]) >= 0 and row["submitted_at"]


@pytest.mark.django_db
def test_every_download_is_one_streamed_private_attachment(client, owner, judged):
    """Pages and API alike: streamed, named, typed, and kept by no cache."""
    from reviewapp.tokens import create_token

    slug = judged.slug
    token = create_token(owner)[1]
    api = {"Authorization": f"Bearer {token}"}
    client.force_login(owner)
    downloads = [
        (client.get(reverse("export-judgments", args=[slug])), f"{slug}-judgments.csv"),
        (client.get(reverse("export-assignments", args=[slug])), f"{slug}-assignments.csv"),
        (
            client.get(reverse("results-csv", args=[slug]) + "?table=models"),
            f"{slug}-results-models.csv",
        ),
        (
            client.get(f"/api/experiments/{slug}/judgments.csv", headers=api),
            f"{slug}-judgments.csv",
        ),
        (
            client.get(f"/api/experiments/{slug}/judgments.jsonl", headers=api),
            f"{slug}-judgments.jsonl",
        ),
    ]
    for response, filename in downloads:
        assert response.status_code == 200 and response.streaming, filename
        assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
        assert response["Cache-Control"] == "private, no-store", filename
        kind = "application/x-ndjson" if filename.endswith(".jsonl") else "text/csv"
        assert response["Content-Type"] == f"{kind}; charset=utf-8"
        assert b"".join(response.streaming_content), filename


@pytest.mark.django_db
def test_every_csv_download_neutralises_formula_cells(client, owner, judged):
    client.force_login(owner)
    for url in (
        reverse("export-judgments", args=[judged.slug]),
        reverse("export-assignments", args=[judged.slug]),
    ):
        rows = read_csv(b"".join(client.get(url).streaming_content).decode())
        cells = {cell for row in rows[1:] for cell in row}
        assert "'=evil()" in cells and "=evil()" not in cells, url
        assert "'+ben" in cells and "+ben" not in cells, url
