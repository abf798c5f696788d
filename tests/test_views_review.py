"""The reviewer's side: the flow through the test client, and blindness over a whole session."""

import re

import pytest
from django.urls import reverse

from reviewapp.models import Assignment, Judgment, Pair
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


@pytest.mark.django_db
def test_whole_session_reveals_no_model_name_or_pair_id(client, setup):
    experiment, reviewer = setup
    client.force_login(reviewer)
    secrets = [
        *MODELS,
        "secret-metadata-value",
        *experiment.pairs.values_list("external_id", flat=True),
    ]
    seen = []

    def keep(response):
        seen.append(response.content.decode())
        seen.append(str(dict(response.headers)))
        return response

    keep(client.get(reverse("review-home")))
    html = keep(client.get(reverse("review-pair", args=[experiment.review_key]))).content.decode()
    for _ in range(6):
        url = submit_url(html)
        assert url, html
        seen.append(url)
        data = {f"dim-{d.position}": "left" for d in experiment.dimensions.all()}
        html = keep(client.post(url, data, headers={"HX-Request": "true"})).content.decode()
    assert "All done" in html
    assert Assignment.objects.filter(status="submitted").count() == 6
    everything = "\n".join(seen)
    for secret in secrets:
        assert secret not in everything, secret


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
