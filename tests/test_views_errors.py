"""Error pages, caching headers and the favicon."""

import pytest
from django.urls import reverse

from tests.conftest import make_experiment, make_user


@pytest.mark.django_db
def test_a_reviewer_opening_owner_pages_gets_a_styled_403(client):
    client.force_login(make_user("rita"))
    response = client.get(reverse("owner-experiments"))
    assert response.status_code == 403
    body = response.content.decode()
    assert "Not allowed" in body and "reviewapp/app." in body


@pytest.mark.django_db
def test_an_unknown_page_gets_a_styled_404(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "Not found" in response.content.decode()


@pytest.mark.django_db
def test_owner_pages_and_downloads_are_private_and_not_stored(client, owner):
    experiment = make_experiment(owner, n_pairs=2)
    client.force_login(owner)
    for name in ("owner-experiment", "export-judgments", "results-json", "results-page"):
        response = client.get(reverse(name, args=[experiment.slug]))
        assert response.status_code == 200, name
        directives = {d.strip() for d in response["Cache-Control"].split(",")}
        assert {"private", "no-store"} <= directives, name


def test_favicon_ico_points_at_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("favicon.svg")
