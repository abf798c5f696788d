"""The reviewer's side: the flow through the test client, and blindness over a whole session."""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from reviewapp.leaks import LeakFinder
from reviewapp.management.commands.seed_demo import DEMO_SLUG
from reviewapp.models import Assignment, Experiment, InviteLink, Judgment, Pair
from tests.conftest import make_experiment, make_user

MODELS = ("zebra-base-7b", "yak-tuned-7b")


def fields_for(experiment, response, choice="left"):
    html = response.content.decode()
    return {f"dim-{d.position}": choice for d in experiment.dimensions.all()} | {
        "rationale": "",
    }, html


def submit_url(html):
    match = re.search(r'hx-post="(/review/[^"]+/submit/)"', html)
    return match and match.group(1)


@pytest.fixture
def setup(owner):
    experiment = make_experiment(owner, n_pairs=6, reviews_per_pair=1, models=MODELS)
    Pair.objects.filter(experiment=experiment).update(metadata={"source": "secret-metadata-value"})
    reviewer = make_user("rita")
    experiment.reviewers.add(reviewer)
    return experiment, reviewer


# -- blindness over whole sessions ----------------------------------------------------------
#
# Three studies, each walked from the reviewer's home through every pair and back home,
# following only the links and forms the pages themselves give (so the walk holds whatever
# the review URLs look like):
# - "plain": neutral name and slug, metadata on every pair;
# - "named": name and slug full of its model names, the default reviewer-facing title, and a
#   crowd worker arriving through an invite link (its join page included);
# - "demo": the seeded demo (name and slug name Tulu 65B and ChatGPT), as reviewer alice.

NAMED_MODELS = ("Tulu-65B", "chatgpt")


def study_plain(owner):
    experiment = make_experiment(owner, n_pairs=6, reviews_per_pair=1, models=MODELS)
    Pair.objects.filter(experiment=experiment).update(metadata={"source": "secret-metadata-value"})
    reviewer = make_user("rita")
    experiment.reviewers.add(reviewer)
    return experiment, MODELS, [("login", reviewer)]


def study_named(owner):
    experiment = make_experiment(
        owner,
        n_pairs=5,
        reviews_per_pair=1,
        models=NAMED_MODELS,
        name="Is Tulu 65B as good as ChatGPT?",
        slug="tulu65b-vs-chatgpt",
    )
    link = InviteLink.objects.create(experiment=experiment)
    join = reverse("invite-join", args=[link.token])
    return experiment, NAMED_MODELS, [("get", join), ("post", join, {"name": "worker-17"})]


def study_demo(owner):
    call_command("seed_demo", stdout=io.StringIO())
    experiment = Experiment.objects.get(slug=DEMO_SLUG)
    models = set(experiment.pairs.values_list("model_a", flat=True)) | set(
        experiment.pairs.values_list("model_b", flat=True)
    )
    return experiment, tuple(models), [("login", get_user_model().objects.get(username="alice"))]


STUDIES = {"plain": study_plain, "named": study_named, "demo": study_demo}


def walk_session(client, steps) -> tuple[list, list[str]]:
    """Every response a reviewer gets over a whole session, and every path requested
    (redirects followed and recorded)."""
    responses, paths = [], []

    def visit(method, url, data=None, **extra):
        response = getattr(client, method)(url, data or {}, follow=True, **extra)
        paths.append(url.split("?")[0])
        paths.extend(hop.split("?")[0] for hop, _ in response.redirect_chain)
        responses.append(response)
        return response.content.decode()

    html = ""
    for step in steps:
        if step[0] == "login":
            client.force_login(step[1])
        else:
            html = visit(*step)
    if 'id="review-form"' not in html:
        home = visit("get", reverse("review-home"))
        start = re.search(r'<a class="button" href="([^"]+)">Start reviewing</a>', home)
        assert start, home
        html = visit("get", start.group(1))
    while 'id="review-form"' in html:
        form = re.search(r'<form id="review-form"[^>]*?action="([^"]+)"', html, re.S)
        data = {name: "left" for name in re.findall(r'name="(dim-\d+)"', html)}
        html = visit("post", form.group(1), data, headers={"HX-Request": "true"})
    assert "All done" in html, html
    visit("get", reverse("review-home"))
    return responses, paths


# The URLs in a page; the first test checks the page around them, the second the URLs.
URL_ATTRIBUTE = re.compile(r'\b(href|src|action|formaction|hx-get|hx-post)="([^"]*)"')
URL_HEADERS = ("Location", "HX-Redirect", "HX-Location")


def mentions(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


@pytest.mark.django_db
@pytest.mark.parametrize("study", STUDIES)
def test_whole_session_reveals_no_model_name_or_pair_id(client, owner, study):
    experiment, models, steps = STUDIES[study](owner)
    responses, _ = walk_session(client, steps)
    n_pairs = experiment.pairs.count()
    assert Assignment.objects.filter(experiment=experiment, status="submitted").count() == n_pairs
    secrets = [
        *models,
        experiment.name,
        "secret-metadata-value",
        *experiment.pairs.values_list("external_id", flat=True),
    ]
    finder = LeakFinder(models)  # the models' names in any spelling: "tulu65b", "TULU 65B"
    title = experiment.title_for_reviewers
    assert not finder.find("title", title)
    for response in responses:
        html = response.content.decode()
        headers = {k: v for k, v in response.headers.items() if k not in URL_HEADERS}
        seen = URL_ATTRIBUTE.sub(r'\1=""', html) + str(headers)
        where = response.request["PATH_INFO"]
        for secret in secrets:
            assert secret not in seen, (where, secret)
        assert not finder.find("page", seen), (where, finder.find("page", seen))
        assert not mentions(seen, experiment.slug), where
        page_title = re.search(r"<title>(.*?)</title>", html, re.S)
        if page_title:  # every full page; htmx fragments have none
            assert not finder.find("title", page_title.group(1))
            if where == reverse("review-home"):
                assert page_title.group(1) == "Review · reviewapp"
            else:  # a page of this experiment: the join page, the review screen
                assert title in page_title.group(1), (where, page_title.group(1))
    home = responses[-1].content.decode()
    assert f"<h2>{title}</h2>" in home and "Nothing left for you here" in home
    assert title in responses[0].content.decode()  # the join page or the home page


@pytest.mark.django_db
@pytest.mark.parametrize("study", STUDIES)
def test_no_url_a_reviewer_visits_or_is_given_names_a_model_or_the_slug(client, owner, study):
    """Every path requested (redirects included) and every URL in a page or header.
    Needs the opaque review key in review URLs (the "path" branch): fails before it."""
    experiment, models, steps = STUDIES[study](owner)
    responses, urls = walk_session(client, steps)
    for response in responses:
        urls += [url for _, url in URL_ATTRIBUTE.findall(response.content.decode())]
        urls += [response.headers[h] for h in URL_HEADERS if h in response.headers]
    assert any(url.startswith("/review/") for url in urls)
    finder = LeakFinder(models)
    for url in urls:
        assert not mentions(url, experiment.slug), url
        assert not finder.find("url", url.replace("/", " ")), url


@pytest.mark.django_db
def test_review_page_shows_prompt_outputs_dimensions_and_shortcuts(client, setup):
    experiment, reviewer = setup
    client.force_login(reviewer)
    html = client.get(reverse("review-pair", args=[experiment.review_key])).content.decode()
    assignment = Assignment.objects.get()
    left = assignment.pair.output_a if assignment.left_is_a else assignment.pair.output_b
    right = assignment.pair.output_b if assignment.left_is_a else assignment.pair.output_a
    assert html.index(left) < html.index(right)
    for dimension in experiment.dimensions.all():
        assert f'name="dim-{dimension.position}"' in html
    assert "<kbd>1</kbd>" in html and "0 of 6 done" in html
    assert 'src="/static/django_htmx/htmx' in html or "htmx" in html


@pytest.mark.django_db
def test_htmx_submit_returns_next_fragment_and_plain_submit_redirects(client, setup):
    experiment, reviewer = setup
    client.force_login(reviewer)
    html = client.get(reverse("review-pair", args=[experiment.review_key])).content.decode()
    data = {f"dim-{d.position}": "tie" for d in experiment.dimensions.all()}
    response = client.post(submit_url(html), data, headers={"HX-Request": "true"})
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<section id="review"') and "<html" not in fragment
    assert "1 of 6 done" in fragment
    assert response["Vary"] and "HX-Request" in response["Vary"]
    response = client.post(submit_url(fragment), data)
    assert response.status_code == 302
    assert Judgment.objects.filter(choice="tie").count() == 2 * experiment.dimensions.count()


@pytest.mark.django_db
def test_incomplete_answer_shows_errors_and_keeps_choices(client, setup):
    experiment, reviewer = setup
    client.force_login(reviewer)
    html = client.get(reverse("review-pair", args=[experiment.review_key])).content.decode()
    response = client.post(submit_url(html), {"dim-0": "right"}, headers={"HX-Request": "true"})
    fragment = response.content.decode()
    assert response.status_code == 200
    assert "Choose left, right or tie" in fragment
    assert 'value="right" data-key="3" checked' in fragment
    assert Judgment.objects.count() == 0


@pytest.mark.django_db
def test_double_post_counts_once(client, setup):
    experiment, reviewer = setup
    client.force_login(reviewer)
    html = client.get(reverse("review-pair", args=[experiment.review_key])).content.decode()
    url = submit_url(html)
    data = {f"dim-{d.position}": "left" for d in experiment.dimensions.all()}
    client.post(url, data)
    client.post(url, data)
    assert Judgment.objects.count() == experiment.dimensions.count()


@pytest.mark.django_db
def test_skip_and_no_tie_option_when_ties_disallowed(client, owner):
    experiment = make_experiment(owner, n_pairs=2, allow_ties=False, slug="noties")
    reviewer = make_user("rosa")
    experiment.reviewers.add(reviewer)
    client.force_login(reviewer)
    html = client.get(reverse("review-pair", args=[experiment.review_key])).content.decode()
    assert 'value="tie"' not in html
    skip = re.search(r'hx-post="(/review/[^"]+/skip/)"', html).group(1)
    response = client.post(skip, headers={"HX-Request": "true"})
    assert Assignment.objects.filter(status="skipped").count() == 1
    assert submit_url(response.content.decode())


@pytest.mark.django_db
def test_strength_options_are_recorded(client, owner):
    experiment = make_experiment(owner, n_pairs=1, ask_strength=True, slug="strength")
    reviewer = make_user("raj")
    experiment.reviewers.add(reviewer)
    client.force_login(reviewer)
    html = client.get(reverse("review-pair", args=[experiment.review_key])).content.decode()
    data = {f"dim-{d.position}": "left:clear" for d in experiment.dimensions.all()}
    client.post(submit_url(html), data)
    assert set(Judgment.objects.values_list("strength", flat=True)) == {"clear"}


@pytest.mark.django_db
def test_outputs_are_escaped_and_markdown_sanitised(client, owner):
    experiment = make_experiment(owner, n_pairs=1, slug="hostile")
    Pair.objects.update(
        prompt="<script>alert('p')</script>",
        output_a="<img src=x onerror=alert(1)> [click](javascript:alert(2))",
        output_b="```html\n<script>alert(3)</script>\n```\n![tracker](http://example.com/t.png)",
    )
    reviewer = make_user("rita")
    experiment.reviewers.add(reviewer)
    client.force_login(reviewer)
    html = client.get(reverse("review-pair", args=[experiment.review_key])).content.decode()
    assert "<script>alert" not in html
    assert "onerror" not in html.replace("onerror=alert(1)&gt;", "")
    assert 'href="javascript:' not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in html


@pytest.mark.django_db
def test_reviewer_not_invited_gets_404(client, setup):
    experiment, _ = setup
    outsider = make_user("outsider")
    client.force_login(outsider)
    assert client.get(reverse("review-pair", args=[experiment.review_key])).status_code == 404


@pytest.mark.django_db
def test_closed_experiment_page_and_submit(client, setup):
    experiment, reviewer = setup
    client.force_login(reviewer)
    html = client.get(reverse("review-pair", args=[experiment.review_key])).content.decode()
    experiment.status = "closed"
    experiment.save()
    data = {f"dim-{d.position}": "left" for d in experiment.dimensions.all()}
    response = client.post(submit_url(html), data, headers={"HX-Request": "true"})
    assert "This experiment is closed" in response.content.decode()
    assert Judgment.objects.count() == 0


@pytest.mark.django_db
def test_anonymous_is_sent_to_login(client, setup):
    experiment, _ = setup
    response = client.get(reverse("review-pair", args=[experiment.review_key]))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
def test_pages_carry_a_csp_without_inline_script(client, setup):
    experiment, reviewer = setup
    client.force_login(reviewer)
    response = client.get(reverse("review-pair", args=[experiment.review_key]))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "<script>" not in response.content.decode()  # every script has a src


@pytest.mark.django_db
def test_progress_bar_counts_this_submission_and_an_answer_posted_to_another_experiment_is_refused(
    client, setup, owner
):
    experiment, reviewer = setup
    other = make_experiment(owner, slug="other", n_pairs=2, reviews_per_pair=1, models=MODELS)
    other.reviewers.add(reviewer)
    client.force_login(reviewer)
    html = client.get(reverse("review-pair", args=[experiment.review_key])).content.decode()
    assert "0 of 6 done" in html
    data = {f"dim-{d.position}": "left" for d in experiment.dimensions.all()}
    html = client.post(submit_url(html), data, headers={"HX-Request": "true"}).content.decode()
    assert "1 of 6 done" in html  # the submission just made, counted in the same response
    # An assignment of this experiment posted under the other experiment's URL: not there.
    pending = submit_url(html)
    wrong = pending.replace(f"/review/{experiment.review_key}/", f"/review/{other.review_key}/")
    response = client.post(wrong, data, headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert not Judgment.objects.filter(assignment__experiment=other).exists()
    assert Assignment.objects.get(pk=pending.split("/")[-3]).status == "shown"


@pytest.mark.django_db
def test_no_template_comment_or_tag_leaks_into_any_page(client, setup, owner):
    """Django's {# #} comments end at the line's end: a two-line one is printed as text."""
    experiment, reviewer = setup
    pages = []
    client.force_login(reviewer)
    pages.append(client.get(reverse("review-home")))
    pages.append(client.get(reverse("review-pair", args=[experiment.review_key])))
    url = submit_url(pages[-1].content.decode())
    pages.append(client.post(url, {}, headers={"HX-Request": "true"}))  # with field errors
    client.force_login(owner)
    pages.append(client.get(reverse("owner-experiments")))
    for response in pages:
        html = response.content.decode()
        assert response.status_code == 200
        for marker in ("{#", "#}", "{%", "%}", "{{", "}}"):
            assert marker not in html, (response.request["PATH_INFO"], marker)


def test_every_template_comment_opens_and_closes_on_one_line():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for template in [*root.glob("templates/**/*.html"), *root.glob("reviewapp/**/*.html")]:
        for number, line in enumerate(template.read_text().splitlines(), 1):
            for piece in line.split("{#")[1:]:
                assert "#}" in piece, f"{template}:{number}: use {{% comment %}} for long comments"


@pytest.mark.django_db
def test_review_urls_carry_the_review_key_never_the_slug(client, owner):
    """Owners write model names into slugs; every URL a reviewer visits or is sent to
    carries the experiment's opaque review key instead."""
    experiment = make_experiment(
        owner, slug="zebra-base-vs-yak-tuned", n_pairs=3, reviews_per_pair=1, models=MODELS
    )
    reviewer = make_user("rita")
    experiment.reviewers.add(reviewer)
    client.force_login(reviewer)
    home = client.get(reverse("review-home")).content.decode()
    start = f'href="/review/{experiment.review_key}/"'
    assert start in home
    urls = [f"/review/{experiment.review_key}/"]
    html = client.get(urls[0]).content.decode()
    skip = re.search(r'hx-post="(/review/[^"]+/skip/)"', html).group(1)
    urls += [submit_url(html), skip]
    data = {f"dim-{d.position}": "left" for d in experiment.dimensions.all()}
    response = client.post(submit_url(html), data)  # without JavaScript: a redirect
    urls.append(response["Location"])
    assert response["Location"] == urls[0]
    for url in urls:
        assert url.startswith(f"/review/{experiment.review_key}/")
        assert experiment.slug not in url and "zebra" not in url
    assert experiment.slug not in home + html
    # The slug is not a way in either.
    assert client.get(f"/review/{experiment.slug}/").status_code == 404


@pytest.mark.django_db
def test_instructions_open_before_the_first_pair_only(client, owner):
    experiment = make_experiment(
        owner, n_pairs=3, reviews_per_pair=1, slug="instr", instructions="Pick the *kinder* one."
    )
    reviewer = make_user("rita")
    experiment.reviewers.add(reviewer)
    client.force_login(reviewer)
    url = reverse("review-pair", args=[experiment.review_key])
    opening = re.compile(r'<dialog id="instructions"[^>]*>')
    first = client.get(url).content.decode()
    assert opening.search(first).group(0).endswith(" open>")
    assert "<em>kinder</em>" in first
    fragment = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert not opening.search(fragment).group(0).endswith(" open>")  # a swap: never again
    data = {f"dim-{d.position}": "tie" for d in experiment.dimensions.all()}
    client.post(submit_url(first), data)
    second = client.get(url).content.decode()
    assert "1 of 3 done" in second
    assert not opening.search(second).group(0).endswith(" open>")
    assert 'id="instructions-button"' in second  # still one key (?) or one click away


@pytest.mark.parametrize("strength", [False, True])
def test_every_answer_label_starts_with_its_side_word_in_both_layouts(strength):
    """The review screen names a side "Left"/"Top" or "Right"/"Bottom" by layout
    (templatetags/review_screen.py); the labels of views.review.option_list say which."""
    from django.utils.html import strip_tags

    from reviewapp.templatetags.review_screen import SIDE_WORDS, option_label
    from reviewapp.views.review import option_list

    options = [
        {"value": value, "label": label}
        for value, label, _ in option_list(Experiment(ask_strength=strength, allow_ties=True))
    ]
    for option in options:
        side = option["value"].partition(":")[0]
        html = str(option_label(option))
        if side == "tie":
            assert html == "Tie"
            continue
        wide, narrow = SIDE_WORDS[side]
        assert option["label"].startswith(wide)
        spans = f'<span class="side-wide">{wide}</span><span class="side-narrow">{narrow}</span>'
        assert spans in html
        assert strip_tags(html) == wide + narrow + option["label"].removeprefix(wide)
