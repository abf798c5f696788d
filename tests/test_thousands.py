"""One number format on pages (thousands separators, the `thousands` filter), plain numbers
in CSV and JSON."""

import csv
import io
import json

import numpy as np
import pytest
from django.template import engines
from django.urls import reverse

from reviewapp.templatetags.thousands import thousands
from tests.conftest import make_experiment, make_user
from tests.test_results import build_judged


def test_whole_numbers_get_separators_and_anything_else_is_left_alone():
    assert [thousands(n) for n in (0, 999, 1000, 10155, -2997, 1234567)] == [
        "0", "999", "1,000", "10,155", "-2,997", "1,234,567",
    ]  # fmt: skip
    assert thousands(np.int64(2997)) == "2,997"  # counts from pandas
    for value in (None, "", "n/a", 1234.5, True):
        assert thousands(value) == value


def test_the_filter_is_a_builtin_of_every_template():
    template = engines["django"].from_string("{{ n|thousands }} judgments")
    assert template.render({"n": 10155}) == "10,155 judgments"


@pytest.mark.django_db
def test_counts_on_owner_and_reviewer_pages_have_separators(client, owner):
    experiment = make_experiment(owner, n_pairs=1200, reviews_per_pair=1, slug="big")
    reviewer = make_user("rita")
    experiment.reviewers.add(reviewer)
    client.force_login(owner)
    listing = client.get(reverse("owner-experiments")).content.decode()
    assert '<td class="num">1,200</td>' in listing and "0 / 1,200 (0 %)" in listing
    detail = client.get(reverse("owner-experiment", args=[experiment.slug])).content.decode()
    assert "0 of 1,200 reviews done" in detail and "1,200 pairs × 1 reviewers each" in detail
    client.force_login(reviewer)
    home = client.get(reverse("review-home")).content.decode()
    assert "0 of 1,200 done." in home
    screen = client.get(reverse("review-pair", args=[experiment.review_key])).content.decode()
    assert "0 of 1,200 done" in screen


@pytest.mark.django_db
def test_results_page_separates_thousands_and_its_csv_and_json_stay_plain(client, owner):
    experiment = build_judged(
        owner, slug="many", models=("base", "ft-v1"), n_pairs=400, dimensions=("overall",)
    )
    client.force_login(owner)
    data = json.loads(client.get(reverse("results-json", args=[experiment.slug])).content)
    pair = data["dimensions"]["overall"]["pairs"][0]
    n = pair["n"]
    assert isinstance(n, int) and n >= 1000
    page = client.get(reverse("results-page", args=[experiment.slug])).content.decode()
    assert f'<td class="num">{n:,}</td>' in page
    assert f"{pair['decided']:,} decided judgments" in data["verdict"]
    assert f"{pair['decided']:,} decided judgments" in page
    response = client.get(reverse("results-csv", args=[experiment.slug]) + "?table=pairs")
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["n"] == str(n)  # plain: pandas reads it as a number
