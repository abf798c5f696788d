import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from reviewapp.models import Experiment
from tests.conftest import make_experiment, make_user


@pytest.mark.django_db
def test_owner_creates_experiment_with_rubric(client, owner):
    client.force_login(owner)
    response = client.post(
        reverse("owner-experiment-new"),
        {"name": "FT v2 vs base", "slug": "", "instructions": "Be *fair*.", "reviews_per_pair": 3,
         "allow_ties": "on", "baseline_model": "base", "dimensions": "overall\nhelpfulness\n"},
    )  # fmt: skip
    experiment = Experiment.objects.get()
    assert response.status_code == 302
    assert experiment.slug == "ft-v2-vs-base" and experiment.owner == owner
    assert list(experiment.dimensions.values_list("name", flat=True)) == ["overall", "helpfulness"]
    assert experiment.status == "draft"


@pytest.mark.django_db
def test_owner_chooses_the_render_mode_when_creating_and_in_settings(client, owner):
    client.force_login(owner)
    form = client.get(reverse("owner-experiment-new")).content.decode()
    assert 'name="render_mode"' in form and 'value="markdown" selected' in form
    post = {"name": "Plain one", "reviews_per_pair": 3, "dimensions": "overall"}
    client.post(reverse("owner-experiment-new"), post | {"render_mode": "plain"})
    experiment = Experiment.objects.get(slug="plain-one")
    assert experiment.render_mode == "plain"
    settings_url = reverse("owner-settings", args=[experiment.slug])
    response = client.post(
        settings_url, post | {"slug": experiment.slug, "render_mode": "markdown"}
    )
    assert response.status_code == 302
    experiment.refresh_from_db()
    assert experiment.render_mode == "markdown"
    bad = client.post(settings_url, post | {"slug": experiment.slug, "render_mode": "html"})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()
    experiment.refresh_from_db()
    assert experiment.render_mode == "markdown"


@pytest.mark.django_db
def test_create_experiment_command_takes_a_render_mode(owner):
    call_command(
        "create_experiment", "cmd-plain", "--owner", owner.username, "--render-mode", "plain"
    )
    call_command("create_experiment", "cmd-default", "--owner", owner.username)
    modes = dict(Experiment.objects.values_list("slug", "render_mode"))
    assert modes == {"cmd-plain": "plain", "cmd-default": "markdown"}
    with pytest.raises(CommandError, match="invalid choice: 'html'"):
        call_command(
            "create_experiment", "cmd-x", "--owner", owner.username, "--render-mode", "html"
        )


@pytest.mark.django_db
def test_non_owner_role_cannot_create(client, reviewers):
    client.force_login(reviewers[0])
    assert client.get(reverse("owner-experiment-new")).status_code == 403


@pytest.mark.django_db
def test_rubric_rename_reorder_add_remove(client, owner):
    experiment = make_experiment(owner)
    client.force_login(owner)
    dims = list(experiment.dimensions.all())  # overall, accuracy, relevance, style, usefulness
    post = {
        "dim_id": [str(d.pk) for d in dims] + ["", ""],
        "dim_name": ["overall", "correctness", "relevance", "style", "usefulness", "safety", ""],
        "dim_order": ["1", "3", "2", "4", "5", "2.5", ""],
        "dim_remove": ["3"],  # style
    }
    response = client.post(reverse("owner-rubric", args=[experiment.slug]), post)
    assert response.status_code == 302
    names = list(experiment.dimensions.values_list("name", flat=True))
    assert names == ["overall", "relevance", "safety", "correctness", "usefulness"]
    assert experiment.dimensions.get(name="correctness").pk == dims[1].pk


@pytest.mark.django_db
def test_open_close_and_invite(client, owner):
    experiment = make_experiment(owner, status="draft")
    make_user("rev1")
    client.force_login(owner)
    client.post(reverse("owner-status", args=[experiment.slug]), {"status": "open"})
    client.post(reverse("owner-reviewers", args=[experiment.slug]), {"usernames": "rev1"})
    experiment.refresh_from_db()
    assert experiment.status == "open"
    assert list(experiment.reviewers.values_list("username", flat=True)) == ["rev1"]
    response = client.post(
        reverse("owner-reviewers", args=[experiment.slug]), {"usernames": "ghost"}
    )
    assert response.status_code == 302
    assert experiment.reviewers.count() == 1


@pytest.mark.django_db
def test_list_and_detail_show_progress_and_counts(client, owner):
    experiment = make_experiment(owner, n_pairs=4)
    client.force_login(owner)
    html = client.get(reverse("owner-experiments")).content.decode()
    assert experiment.name in html and "0 / 12" in html
    html = client.get(reverse("owner-experiment", args=[experiment.slug])).content.decode()
    assert "0 of 12 reviews done" in html


@pytest.mark.django_db
def test_other_owner_gets_404_everywhere(client, owner):
    experiment = make_experiment(owner)
    client.force_login(make_user("mallory", owner=True))
    for name in [
        "owner-experiment",
        "owner-settings",
        "owner-rubric",
        "owner-upload",
        "export-judgments",
    ]:
        assert client.get(reverse(name, args=[experiment.slug])).status_code == 404, name
    for name in ["owner-status", "owner-reviewers"]:
        assert client.post(reverse(name, args=[experiment.slug]), {}).status_code == 404, name


@pytest.mark.django_db
def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_sharing_with_another_owner(client, owner):
    experiment = make_experiment(owner)
    colleague = make_user("colleague", owner=True)
    make_user("plain-reviewer")
    client.force_login(owner)
    url = reverse("owner-sharing", args=[experiment.slug])
    client.post(url, {"username": "plain-reviewer"})  # not an owner: refused
    client.post(url, {"username": "colleague"})
    assert list(experiment.shared_with.all()) == [colleague]
    client.force_login(colleague)
    assert client.get(reverse("owner-experiment", args=[experiment.slug])).status_code == 200
    client.force_login(owner)
    client.post(url, {"username": "colleague", "action": "remove"})
    client.force_login(colleague)
    assert client.get(reverse("owner-experiment", args=[experiment.slug])).status_code == 404
