import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from reviewapp.forms import MAX_DIMENSIONS
from reviewapp.models import Assignment, Experiment, Judgment, Pair
from reviewapp.tokens import create_token
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


def rubric_post(existing, new=()) -> dict:
    """The rubric form as the page posts it: `existing` are (dimension, name, order,
    remove) for the experiment's dimensions, `new` are (name, order) for blank rows."""
    post = {
        "form-TOTAL_FORMS": str(len(existing) + len(new)),
        "form-INITIAL_FORMS": str(len(existing)),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
    }
    for i, (dimension, name, order, remove) in enumerate(existing):
        post |= {f"form-{i}-id": str(dimension.pk), f"form-{i}-name": name}
        post[f"form-{i}-ORDER"] = str(order)
        if remove:
            post[f"form-{i}-DELETE"] = "on"
    for i, (name, order) in enumerate(new, start=len(existing)):
        post |= {f"form-{i}-id": "", f"form-{i}-name": name, f"form-{i}-ORDER": str(order)}
    return post


def rubric_names(experiment) -> list[str]:
    return list(experiment.dimensions.order_by("position").values_list("name", flat=True))


def judge(experiment, dimension_name: str) -> None:
    """One submitted judgment on the named dimension."""
    reviewer = make_user(f"judge-{dimension_name}")
    pair = Pair.objects.create(
        experiment=experiment, external_id=f"j-{dimension_name}", prompt="p",
        model_a="a", output_a="x", model_b="b", output_b="y",
    )  # fmt: skip
    assignment = Assignment.objects.create(
        experiment=experiment, pair=pair, reviewer=reviewer, left_is_a=True,
        status=Assignment.Status.SUBMITTED, shown_at=timezone.now(), submitted_at=timezone.now(),
    )  # fmt: skip
    dimension = experiment.dimensions.get(name=dimension_name)
    Judgment.objects.create(assignment=assignment, dimension=dimension, choice="A")


@pytest.mark.django_db
def test_owner_role_is_one_rule_for_pages_api_and_menu(client):
    """The role can come from a group as well; the pages, the API and the menu agree."""
    group = Group.objects.create(name="owners")
    group.permissions.add(Permission.objects.get(codename="add_experiment"))
    via_group = make_user("gwen")
    via_group.groups.add(group)
    plain = make_user("rita")
    for user, status in ((via_group, 200), (plain, 403)):
        client.force_login(user)
        assert client.get(reverse("owner-experiments")).status_code == status
        html = client.get(reverse("review-home")).content.decode()
        assert ("My experiments" in html) is (status == 200)
        token = create_token(user)[1]
        api = client.get("/api/experiments", headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == status
    assert api.json()["detail"] == "Only experiment owners can do this."


@pytest.mark.django_db
def test_rubric_page_lists_the_dimensions_in_order_with_blank_rows(client, owner):
    experiment = make_experiment(owner, dimensions=["overall", "style"])
    client.force_login(owner)
    response = client.get(reverse("owner-rubric", args=[experiment.slug]))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index('value="overall"') < html.index('value="style"')
    assert 'aria-label="Remove style"' in html and 'aria-label="Name of new dimension 2"' in html
    assert 'name="form-TOTAL_FORMS" value="4"' in html


@pytest.mark.django_db
def test_rubric_rename_reorder_add_remove(client, owner):
    experiment = make_experiment(owner)
    client.force_login(owner)
    overall, accuracy, relevance, style, usefulness = experiment.dimensions.all()
    post = rubric_post(
        [
            (overall, "overall", 1, False),
            (accuracy, "correctness", 3, False),
            (relevance, "relevance", 2, False),
            (style, "style", 4, True),
            (usefulness, "usefulness", 5, False),
        ],
        [("safety", 2.5), ("", "")],
    )
    response = client.post(reverse("owner-rubric", args=[experiment.slug]), post)
    assert response.status_code == 302
    assert rubric_names(experiment) == [
        "overall",
        "relevance",
        "safety",
        "correctness",
        "usefulness",
    ]
    assert experiment.dimensions.get(name="correctness").pk == accuracy.pk
    assert list(experiment.dimensions.values_list("position", flat=True)) == [0, 1, 2, 3, 4]


@pytest.mark.django_db
def test_rubric_reorder_swaps_names_and_keeps_judgments_attached(client, owner):
    experiment = make_experiment(owner, dimensions=["overall", "style"])
    judge(experiment, "style")
    overall, style = experiment.dimensions.all()
    client.force_login(owner)
    # Swap the two names and the two places at once: every unique constraint is crossed.
    post = rubric_post([(overall, "style", 2, False), (style, "overall", 1, False)])
    response = client.post(reverse("owner-rubric", args=[experiment.slug]), post)
    assert response.status_code == 302
    assert rubric_names(experiment) == ["overall", "style"]
    assert experiment.dimensions.get(name="overall").pk == style.pk
    assert Judgment.objects.get().dimension_id == style.pk


@pytest.mark.django_db
def test_rubric_refuses_removing_a_judged_dimension(client, owner):
    experiment = make_experiment(owner, dimensions=["overall", "style"])
    judge(experiment, "style")
    overall, style = experiment.dimensions.all()
    client.force_login(owner)
    page = client.get(reverse("owner-rubric", args=[experiment.slug])).content.decode()
    assert 'aria-label="Remove style" disabled' in page
    post = rubric_post([(overall, "overall", 1, False), (style, "style", 2, True)])
    response = client.post(reverse("owner-rubric", args=[experiment.slug]), post)
    assert response.status_code == 200
    assert "“style” already has judgments and cannot be removed" in response.content.decode()
    assert rubric_names(experiment) == ["overall", "style"]


@pytest.mark.django_db
def test_rubric_removes_an_unjudged_dimension(client, owner):
    experiment = make_experiment(owner, dimensions=["overall", "style", "tone"])
    judge(experiment, "overall")
    overall, style, tone = experiment.dimensions.all()
    client.force_login(owner)
    post = rubric_post(
        [(overall, "overall", 1, False), (style, "style", 2, True), (tone, "tone", 3, False)]
    )
    response = client.post(reverse("owner-rubric", args=[experiment.slug]), post)
    assert response.status_code == 302
    assert rubric_names(experiment) == ["overall", "tone"]
    assert list(experiment.dimensions.values_list("position", flat=True)) == [0, 1]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "names, message",
    [
        (["overall", "Overall"], "“Overall” is listed twice."),
        (["overall", "  "], "This field is required."),
        (["overall", "x" * 61], "at most 60 characters"),
        (["overall", "nul\x00byte"], "Null characters are not allowed."),
    ],
)
def test_rubric_refuses_bad_names(client, owner, names, message):
    experiment = make_experiment(owner, dimensions=["overall", "style"])
    overall, style = experiment.dimensions.all()
    client.force_login(owner)
    post = rubric_post([(overall, names[0], 1, False), (style, names[1], 2, False)])
    response = client.post(reverse("owner-rubric", args=[experiment.slug]), post)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert rubric_names(experiment) == ["overall", "style"]


@pytest.mark.django_db
def test_rubric_refuses_a_new_dimension_named_like_an_existing_one(client, owner):
    experiment = make_experiment(owner, dimensions=["overall"])
    (overall,) = experiment.dimensions.all()
    client.force_login(owner)
    post = rubric_post([(overall, "overall", 1, False)], [("OVERALL ", 2)])
    response = client.post(reverse("owner-rubric", args=[experiment.slug]), post)
    assert "“OVERALL” is listed twice." in response.content.decode()
    assert rubric_names(experiment) == ["overall"]


@pytest.mark.django_db
def test_rubric_refuses_removing_every_dimension(client, owner):
    experiment = make_experiment(owner, dimensions=["overall"])
    (overall,) = experiment.dimensions.all()
    client.force_login(owner)
    post = rubric_post([(overall, "overall", 1, True)])
    response = client.post(reverse("owner-rubric", args=[experiment.slug]), post)
    assert "An experiment needs at least one dimension." in response.content.decode()
    assert rubric_names(experiment) == ["overall"]


@pytest.mark.django_db
def test_rubric_refuses_a_page_that_is_out_of_date(client, owner):
    experiment = make_experiment(owner, dimensions=["overall", "style"])
    overall, style = experiment.dimensions.all()
    client.force_login(owner)
    post = rubric_post([(overall, "overall", 1, False), (style, "style", 2, False)])
    style.delete()  # by another owner, after this page was loaded
    response = client.post(reverse("owner-rubric", args=[experiment.slug]), post)
    assert response.status_code == 200
    assert "The rubric was changed meanwhile" in response.content.decode()
    # A dimension added elsewhere meanwhile is not in the form: refused, not removed.
    experiment.dimensions.create(name="tone", position=5)
    post = rubric_post([(overall, "overall", 1, False)], [("safety", 2)])
    response = client.post(reverse("owner-rubric", args=[experiment.slug]), post)
    assert "The rubric was changed meanwhile" in response.content.decode()
    assert rubric_names(experiment) == ["overall", "tone"]


@pytest.mark.django_db
def test_rubric_cannot_edit_another_experiments_dimension(client, owner):
    mine = make_experiment(owner, slug="mine", dimensions=["overall"])
    theirs = make_experiment(make_user("other", owner=True), slug="theirs", dimensions=["x"])
    (overall,) = mine.dimensions.all()
    client.force_login(owner)
    post = rubric_post([(overall, "overall", 1, False), (theirs.dimensions.get(), "y", 2, False)])
    response = client.post(reverse("owner-rubric", args=[mine.slug]), post)
    assert "The rubric was changed meanwhile" in response.content.decode()
    assert rubric_names(theirs) == ["x"] and rubric_names(mine) == ["overall"]


@pytest.mark.django_db
def test_rubric_refuses_more_dimensions_than_the_cap(client, owner):
    experiment = make_experiment(owner, dimensions=["overall"])
    (overall,) = experiment.dimensions.all()
    client.force_login(owner)
    new = [(f"d{i}", i + 2) for i in range(MAX_DIMENSIONS)]
    post = rubric_post([(overall, "overall", 1, False)], new)
    response = client.post(reverse("owner-rubric", args=[experiment.slug]), post)
    assert response.status_code == 200
    assert f"Please submit at most {MAX_DIMENSIONS} forms." in response.content.decode()
    assert rubric_names(experiment) == ["overall"]


@pytest.mark.django_db
def test_rubric_page_for_others_and_wrong_method(client, owner):
    experiment = make_experiment(owner, dimensions=["overall"])
    url = reverse("owner-rubric", args=[experiment.slug])
    (overall,) = experiment.dimensions.all()
    post = rubric_post([(overall, "renamed", 1, False)])
    client.force_login(make_user("mallory", owner=True))
    assert client.get(url).status_code == 404
    assert client.post(url, post).status_code == 404
    client.force_login(make_user("rita"))  # a reviewer
    assert client.post(url, post).status_code == 404
    client.force_login(owner)
    assert client.put(url).status_code == 405 and client.delete(url).status_code == 405
    client.logout()
    assert client.post(url, post).status_code == 302  # to the login page
    assert rubric_names(experiment) == ["overall"]


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
