"""Identity leaks: the pure finder (leaks.py), the stored flags (experiments.flag_pair_leaks),
and where owners are told: upload preview, experiment page, opening, API."""

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from reviewapp.experiments import (
    exclude_flagged_pairs,
    flag_pair_leaks,
    keep_flagged_pairs,
    leak_report,
    recount_pairs,
)
from reviewapp.leaks import (
    KIND_MODEL,
    KIND_SELF,
    KIND_VENDOR,
    LeakFinder,
    LeakTally,
    experiment_leaks,
    name_tokens,
    pair_leaks,
)
from reviewapp.models import Experiment, Pair
from reviewapp.tokens import create_token
from tests.conftest import make_experiment

DEMO_FILE = "reviewapp/demo_data/tulu1_demo_pairs.jsonl"


def matches(text, models=("tulu_65B", "chatgpt")):
    return [(leak.kind, leak.match) for leak in LeakFinder(models).find("output_a", text)]


# -- model names and their variants ------------------------------------------------------


def test_name_variants_give_the_same_tokens():
    variants = ["Tulu 65B", "tulu-65b", "tulu65b", "TULU_65B", "tulu.65b", "allenai/tulu-65B"]
    assert {name_tokens(v) for v in variants} == {("tulu", "65", "b")}


@pytest.mark.parametrize(
    "text", ["Tulu 65B", "tulu-65b", "tulu65b", "TULU_65B", "tulu.65B", "TuLu 65 B"]
)
def test_every_spelling_of_a_model_name_is_found(text):
    leaks = LeakFinder(["tulu_65B"]).find("output_b", f"This answer comes from {text}, honestly.")
    assert [(leak.match, leak.model, leak.field) for leak in leaks] == [
        (text, "tulu_65B", "output_b")
    ]


def test_the_family_name_alone_is_found():
    assert matches("Tulu is happy to help.") == [(KIND_MODEL, "Tulu")]


def test_a_model_called_base_does_not_flag_database_or_base64():
    finder = LeakFinder(["base", "tuned-7b"])
    text = "Store it in a database, encode it as base64, and rebase the branch."
    assert finder.find("output_a", text) == []
    # The word itself is the name: flagged.
    assert [leak.match for leak in finder.find("output_a", "the base model")] == ["base"]


def test_generic_words_of_a_name_are_not_looked_for_alone():
    finder = LeakFinder(["base-7b", "tuned-7b"])
    assert finder.find("x", "A tuned guitar and a base camp.") == []
    assert [leak.match for leak in finder.find("x", "as tuned 7b said")] == ["tuned 7b"]


def test_names_too_short_to_look_for_are_skipped():
    assert LeakFinder(["A", "B"]).find("x", "A is better than B.") == []


def test_a_name_inside_a_longer_word_is_not_found():
    assert LeakFinder(["tulu"]).find("x", "Tulumba is a dessert; tulu2 is not tulu.") != []
    assert [leak.match for leak in LeakFinder(["tulu"]).find("x", "Tulumba, tulu2")] == []


# -- self-identification and makers ----------------------------------------------------


@pytest.mark.parametrize(
    "text, found",
    [
        ("I am Tulu, a helpful assistant.", "I am Tulu"),
        ("I'm Claude, and I can help.", "I'm Claude"),
        ("My name is Bard.", "My name is Bard"),
        ("As ChatGPT, I cannot browse.", "As ChatGPT,"),
        (
            "As an AI language model developed by OpenAI, I cannot",
            "As an AI language model developed by OpenAI",
        ),
        (
            "I am an AI assistant created by Google DeepMind.",
            "I am an AI assistant created by Google DeepMind",
        ),
        ("I was trained by Mistral AI in Paris.", "I was trained by Mistral AI"),
        (
            "I'm a language model trained by the Allen Institute for AI.",
            "I'm a language model trained by the Allen Institute for AI",
        ),
        (
            "As a chatbot built by Large Model Systems Organization, I",
            "As a chatbot built by Large Model Systems Organization",
        ),
    ],
)
def test_self_identification_is_found(text, found):
    leaks = LeakFinder([]).find("output_a", text)
    assert leaks and leaks[0].kind == KIND_SELF and leaks[0].match == found


@pytest.mark.parametrize("name", ["OpenAI", "Anthropic", "DeepMind", "ChatGPT", "GPT-4", "LLaMA"])
def test_distinctive_names_are_found_anywhere(name):
    leaks = LeakFinder([]).find("prompt", f"What do you think of {name} these days?")
    assert [(leak.kind, leak.match) for leak in leaks] == [(KIND_VENDOR, name)]


@pytest.mark.parametrize(
    "text",
    [
        "As an AI language model, I do not experience stress.",  # says nothing of who
        "I am writing to discuss my salary. I am committed to the company.",
        "TensorFlow was developed by Google; React was created by Meta.",
        "Claude Monet painted water lilies; Gemini is a zodiac sign.",
        "The Bard of Avon wrote 39 plays. A falcon flew over the alpaca farm.",
        "Search Google, open Microsoft Excel, read the meta tags.",
        "I was trained by my coach. As an AI developed by a team of researchers, I",
        "A llama is a South American camelid.",
    ],
)
def test_ordinary_text_is_not_flagged(text):
    assert LeakFinder(["zebra-base-7b", "yak-tuned-7b"]).find("output_a", text) == []


def test_the_demo_pairs_raise_no_false_flag():
    """40 real outputs, among them "As an AI language model" and many "I am ..." lines."""
    finder = LeakFinder(["tulu_65B", "chatgpt"])
    with open(DEMO_FILE) as lines:
        for line in lines:
            row = json.loads(line)
            assert finder.pair_flags(row["prompt"], row["output_a"], row["output_b"]) == [], row
            assert row["pair_id"]


def test_overlapping_findings_are_reported_once_with_context():
    leaks = LeakFinder(["chatgpt"]).find("output_a", "Hello there. I am ChatGPT, by OpenAI.")
    assert [(leak.kind, leak.match) for leak in leaks] == [
        (KIND_SELF, "I am ChatGPT"),
        (KIND_VENDOR, "OpenAI"),
    ]
    assert leaks[0].context == "Hello there. I am ChatGPT, by OpenAI."


def test_pair_leaks_name_the_field_and_the_model():
    flags = pair_leaks("Which is better?", "Fine.", "Tulu-65B says hi", ["tulu_65B", "chatgpt"])
    assert flags == [
        {
            "field": "output_b",
            "match": "Tulu-65B",
            "context": "Tulu-65B says hi",
            "kind": KIND_MODEL,
            "model": "tulu_65B",
        }
    ]


def test_experiment_texts_find_name_slug_and_instructions():
    texts = {
        "name": "Demo: is fine-tuned Tulu 65B as good as ChatGPT?",
        "slug": "demo-tulu65b-vs-chatgpt",
        "instructions": "Compare the answers of tulu and the other one.",
        "reviewer-facing title": "Which answer is better?",
    }
    found = {(leak.field, leak.match) for leak in experiment_leaks(texts, ["tulu_65B", "chatgpt"])}
    assert found == {
        ("name", "Tulu 65B"),
        ("name", "ChatGPT"),
        ("slug", "tulu65b"),
        ("slug", "chatgpt"),
        ("instructions", "tulu"),
    }


def test_tally_counts_and_lists_the_flagged_rows_of_a_stream():
    class Row:
        def __init__(self, line, output_b):
            self.line, self.external_id, self.prompt = line, f"q{line}", "Hi"
            self.model_a, self.output_a, self.model_b, self.output_b = (
                "m-one",
                "x",
                "m-two",
                output_b,
            )

    tally = LeakTally([], listed=1)
    for line, text in enumerate(["fine", "I am Claude.", "m-two here", "m two"], 1):
        tally(Row(line, text))
    assert tally.count == 3
    assert [(r["line"], r["flags"][0]["match"]) for r in tally.rows] == [(2, "I am Claude")]


# -- stored flags and the owner's decision ----------------------------------------------


def leaky_experiment(owner, **fields):
    experiment = make_experiment(owner, n_pairs=5, models=("tulu_65B", "chatgpt"), **fields)
    pairs = list(experiment.pairs.order_by("pk"))
    pairs[1].output_a = "I am Tulu, a language model."
    pairs[3].output_b = "As ChatGPT, I <script>alert(1)</script> cannot."
    Pair.objects.bulk_update(pairs, ["output_a", "output_b"])
    return experiment


@pytest.mark.django_db
def test_flag_pair_leaks_stores_flags_in_batches(owner, django_assert_max_num_queries):
    experiment = leaky_experiment(owner)
    n = flag_pair_leaks(experiment, batch_size=2)
    assert n == 2
    flagged = dict(experiment.pairs.exclude(leak_flags=[]).values_list("external_id", "leak_flags"))
    assert set(flagged) == {"p00001", "p00003"}
    assert (
        flagged["p00001"][0]["match"] == "I am Tulu" and flagged["p00001"][0]["field"] == "output_a"
    )
    # Nothing changed: nothing is written again (2 name queries + 4 batch reads).
    with django_assert_max_num_queries(6):
        assert flag_pair_leaks(experiment, batch_size=2) == 2


@pytest.mark.django_db
def test_exclusion_takes_flagged_pairs_out_of_review_and_the_counts(owner):
    experiment = leaky_experiment(owner)
    flag_pair_leaks(experiment)
    assert leak_report(experiment).flagged == 2
    assert exclude_flagged_pairs(experiment) == 2
    experiment.refresh_from_db()
    assert experiment.pair_count == 3
    in_review = Pair.objects.filter(experiment=experiment, excluded=False)
    assert set(in_review.values_list("external_id", flat=True)) == {"p00000", "p00002", "p00004"}
    report = leak_report(experiment)
    assert (report.flagged, report.kept, report.excluded, report.unresolved) == (0, 0, 2, False)


@pytest.mark.django_db
def test_kept_pairs_are_asked_again_only_for_new_findings(owner):
    experiment = leaky_experiment(owner)
    flag_pair_leaks(experiment)
    assert keep_flagged_pairs(experiment) == 2
    report = leak_report(experiment)
    assert (report.flagged, report.kept, report.unresolved) == (0, 2, False)
    flag_pair_leaks(experiment)  # same findings: the decision stands
    assert leak_report(experiment).kept == 2
    Pair.objects.filter(external_id="p00001").update(output_b="Also OpenAI made me.")
    flag_pair_leaks(experiment)
    report = leak_report(experiment)
    assert (report.flagged, report.kept) == (1, 1)
    assert report.examples[0]["external_id"] == "p00001"


@pytest.mark.django_db
def test_reviewer_title_defaults_to_a_neutral_comparison_number(owner):
    experiment = make_experiment(owner, name="Tulu vs ChatGPT")
    assert experiment.title_for_reviewers == f"Comparison {experiment.pk}"
    experiment.reviewer_title = "Which answer helps more?"
    assert experiment.title_for_reviewers == "Which answer helps more?"


@pytest.mark.django_db
def test_report_separates_what_reviewers_see_from_name_and_slug(owner):
    experiment = leaky_experiment(owner, name="Tulu 65B vs ChatGPT", slug="tulu65b-vs-chatgpt")
    experiment.reviewer_title = "Is ChatGPT better?"
    experiment.save()
    report = leak_report(experiment)
    assert [(leak.field, leak.match) for leak in report.visible] == [
        ("reviewer-facing title", "ChatGPT")
    ]
    assert {leak.field for leak in report.owner_only} == {"name", "slug"}
    assert report.unresolved


# -- pages ------------------------------------------------------------------------------


@pytest.fixture
def leaky(owner, client):
    experiment = leaky_experiment(owner, name="Tulu 65B vs ChatGPT", status="draft")
    flag_pair_leaks(experiment)
    client.force_login(owner)
    return experiment


@pytest.mark.django_db
def test_experiment_page_lists_flagged_pairs_escaped_and_excludes_them(client, leaky):
    url = reverse("owner-experiment", args=[leaky.slug])
    html = client.get(url).content.decode()
    assert "2 pairs may reveal which model wrote an output" in html
    assert "p00001" in html and "I am Tulu" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the context, as text
    assert "Exclude 2 flagged pairs from review" in html and 'id="keep-flagged"' in html
    response = client.post(reverse("owner-leaks", args=[leaky.slug]), {"action": "exclude"})
    assert response.status_code == 302
    assert set(Pair.objects.filter(excluded=True).values_list("external_id", flat=True)) == {
        "p00001",
        "p00003",
    }
    html = client.get(url).content.decode()
    assert "2 flagged pairs taken out of review" in html and 'id="exclude-flagged"' not in html


@pytest.mark.django_db
def test_keep_them_turns_the_warning_into_a_quiet_note(client, leaky):
    client.post(reverse("owner-leaks", args=[leaky.slug]), {"action": "keep"})
    html = client.get(reverse("owner-experiment", args=[leaky.slug])).content.decode()
    assert "may reveal which model" not in html
    assert "2 flagged pairs kept in review knowingly" in html
    assert not Pair.objects.filter(excluded=True).exists()
    # ... and opening needs no confirmation any more.
    client.post(reverse("owner-status", args=[leaky.slug]), {"status": "open"})
    leaky.refresh_from_db()
    assert leaky.status == "open"


@pytest.mark.django_db
def test_leak_decision_rejects_unknown_actions_get_and_other_owners(client, leaky):
    url = reverse("owner-leaks", args=[leaky.slug])
    assert client.post(url, {"action": "nuke"}).status_code == 400
    assert client.get(url).status_code == 405
    from tests.conftest import make_user

    client.force_login(make_user("other", owner=True))
    assert client.post(url, {"action": "exclude"}).status_code == 404
    assert not Pair.objects.filter(excluded=True).exists()


@pytest.mark.django_db
def test_opening_with_unresolved_leaks_needs_an_explicit_confirmation(client, leaky):
    url = reverse("owner-status", args=[leaky.slug])
    response = client.post(url, {"status": "open"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Open for review anyway" in html and "I am Tulu" in html
    assert "&lt;script&gt;" in html and "<script>alert" not in html
    leaky.refresh_from_db()
    assert leaky.status == "draft"
    client.post(url, {"status": "open", "confirm_leaks": "on"})
    leaky.refresh_from_db()
    assert leaky.status == "open"
    # Closing never asks.
    client.post(url, {"status": "closed"})
    leaky.refresh_from_db()
    assert leaky.status == "closed"


@pytest.mark.django_db
def test_opening_a_clean_experiment_asks_nothing(client, owner):
    experiment = make_experiment(owner, n_pairs=2, status="draft")
    flag_pair_leaks(experiment)
    client.force_login(owner)
    client.post(reverse("owner-status", args=[experiment.slug]), {"status": "open"})
    experiment.refresh_from_db()
    assert experiment.status == "open"


@pytest.mark.django_db
def test_settings_warn_when_the_reviewer_title_names_a_model(client, leaky):
    url = reverse("owner-settings", args=[leaky.slug])
    html = client.get(url).content.decode()
    assert 'name="reviewer_title"' in html
    data = {
        "name": leaky.name,
        "reviewer_title": "Tulu-65B or the other?",
        "slug": leaky.slug,
        "instructions": "",
        "reviews_per_pair": 3,
        "allow_ties": "on",
        "gold_rate": 0.1,
        "too_fast_seconds": 5,
    }
    response = client.post(url, data, follow=True)
    leaky.refresh_from_db()
    assert leaky.reviewer_title == "Tulu-65B or the other?"
    html = response.content.decode()
    assert "The reviewer-facing title names a model" in html
    assert "Reviewers would see a model's name" in html


UPLOAD = "\n".join(
    json.dumps(row)
    for row in [
        {"pair_id": "a1", "prompt": "Hi", "model_a": "Zeta-7B", "output_a": "Hello!",
         "model_b": "omega-chat", "output_b": "Hi there."},
        {"pair_id": "a2", "prompt": "Who are you?", "model_a": "Zeta-7B",
         "output_a": "I am zeta 7b <b>bold</b>", "model_b": "omega-chat",
         "output_b": "An assistant made by OpenAI."},
        {"pair_id": "a3", "prompt": "Store it", "model_a": "Zeta-7B",
         "output_a": "Use a database.", "model_b": "omega-chat", "output_b": "Use a file."},
    ]
)  # fmt: skip


@pytest.mark.django_db
def test_upload_preview_lists_flagged_rows_and_experiment_warnings(
    client, owner, tmp_path, settings
):
    settings.REVIEWAPP_UPLOAD_DIR = tmp_path
    experiment = make_experiment(
        owner, name="Zeta vs Omega", slug="zeta-vs-omega", instructions="Is Omega Chat better?"
    )
    client.force_login(owner)
    file = SimpleUploadedFile("pairs.jsonl", UPLOAD.encode())
    response = client.post(
        reverse("owner-upload", args=[experiment.slug]),
        {"file": file, "pairing": "all"},
        follow=True,  # to the check job's page (the job ran where it was queued)
    )
    html = response.content.decode()
    assert response.context["flagged"]["count"] == 1
    assert "1 pair in this file may reveal" in html
    assert "zeta 7b" in html and "a2" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert "Instructions: <strong><bdi>Omega Chat</bdi></strong>" in html
    assert {leak.field for leak in response.context["leaks"].owner_only} == {"name", "slug"}
    check = response.context["job"]
    response = client.post(
        reverse("owner-upload-import", args=[experiment.slug, check.pk]), follow=True
    )
    assert "1 pair may reveal which model wrote an output" in response.content.decode()
    flags = Pair.objects.get(external_id="a2").leak_flags
    assert [(f["field"], f["match"]) for f in flags] == [
        ("output_a", "zeta 7b"),
        ("output_b", "OpenAI"),
    ]


@pytest.mark.django_db
def test_import_command_and_api_flag_pairs_and_the_api_lists_flags(client, owner, tmp_path):
    make_experiment(owner, slug="cmd")
    path = tmp_path / "pairs.jsonl"
    path.write_text(UPLOAD)
    out = __import__("io").StringIO()
    call_command("import_pairs", "cmd", str(path), stdout=out)
    assert "1 pair(s) may reveal which model" in out.getvalue()
    assert Pair.objects.exclude(leak_flags=[]).count() == 1

    api = make_experiment(owner, slug="api")
    token = create_token(owner)[1]
    headers = {"Authorization": f"Bearer {token}"}
    url = "/api/experiments/api/pairs"
    dry = client.post(
        f"{url}?dry_run=true", UPLOAD, content_type="application/x-ndjson", headers=headers
    )
    assert dry.status_code == 200 and dry.json()["pairs_flagged"] == 1
    assert not Pair.objects.filter(experiment=api).exists()
    done = client.post(url, UPLOAD, content_type="application/x-ndjson", headers=headers)
    assert done.json()["pairs_flagged"] == 1
    exclude_flagged_pairs(api)
    items = {p["pair_id"]: p for p in client.get(url, headers=headers).json()["items"]}
    assert items["a2"]["excluded"] is True and items["a1"]["excluded"] is False
    assert [f["match"] for f in items["a2"]["leak_flags"]] == ["zeta 7b", "OpenAI"]
    assert items["a1"]["leak_flags"] == []


@pytest.mark.django_db
def test_api_sets_and_returns_the_reviewer_title(client, owner):
    token = create_token(owner)[1]
    headers = {"Authorization": f"Bearer {token}"}
    body = {"name": "Tulu vs ChatGPT", "reviewer_title": "Which is better?"}
    response = client.post(
        "/api/experiments", body, content_type="application/json", headers=headers
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["reviewer_title"] == data["title_for_reviewers"] == "Which is better?"
    response = client.post(
        "/api/experiments", {"name": "Other"}, content_type="application/json", headers=headers
    )
    experiment = Experiment.objects.get(slug=response.json()["slug"])
    assert response.json()["title_for_reviewers"] == f"Comparison {experiment.pk}"


@pytest.mark.django_db
def test_recount_ignores_excluded_pairs(owner):
    experiment = make_experiment(owner, n_pairs=4)
    Pair.objects.filter(external_id="p00000").update(excluded=True)
    recount_pairs(experiment)
    assert experiment.pair_count == 3


def test_matched_snippets_are_plain_text_not_markup():
    leaks = LeakFinder(["chatgpt"]).find("output_a", '<img src=x onerror="ChatGPT">')
    assert leaks[0].context == '<img src=x onerror="ChatGPT">'  # escaping is the page's job
    assert re.search("ChatGPT", leaks[0].match)


GATE_CORPUS = [
    "I\n\nam  Claude,\tand you?",
    "As\u00a0ChatGPT , no. As  ChatGPT, yes.",
    "I'M A GOOGLE AI MODEL. i am an openai language model.",
    "I was developed and trained by Meta AI. I have been fine-tuned by Mistral AI.",
    "As a helpful assistant fine-tuned\nby Stanford, I answer.",
    "Yi-34B here; PHI-3 there; Command R+; Straße; TÜLU 2; tulu\u200b65b",
    "developed by OpenAI\u2028as Bard,",
]


def test_the_gates_never_hide_a_finding(monkeypatch):
    """The word gates only skip work: with every gate open, the findings are the same."""
    import reviewapp.leaks as leaks

    with open(DEMO_FILE) as lines:
        corpus = GATE_CORPUS + [
            text for line in lines for text in json.loads(line).values() if isinstance(text, str)
        ]
    finder = LeakFinder(["tulu_65B", "chatgpt", "Straße-7b"])
    gated = [finder.find("x", text) for text in corpus]
    monkeypatch.setattr(leaks, "_passes", lambda gate, text: True)
    assert [finder.find("x", text) for text in corpus] == gated
    assert sum(map(bool, gated)) >= len(GATE_CORPUS)


@pytest.mark.django_db
def test_api_open_asks_for_confirmation_and_flagged_pairs_can_be_decided(client, owner):
    experiment = leaky_experiment(owner, status="draft", slug="api-leaky")
    flag_pair_leaks(experiment)
    headers = {"Authorization": f"Bearer {create_token(owner)[1]}"}
    base = "/api/experiments/api-leaky"
    response = client.post(f"{base}/open", headers=headers)
    assert response.status_code == 409 and response.json()["error"] == "identity_leaks"
    assert response.json()["rows"][-1]["column"] == "pairs"
    experiment.refresh_from_db()
    assert experiment.status == "draft"
    response = client.post(f"{base}/flagged-pairs/keep", headers=headers)
    assert response.json() == {"action": "keep", "pairs": 2}
    assert client.post(f"{base}/open", headers=headers).status_code == 200
    client.post(f"{base}/close", headers=headers)
    response = client.post(f"{base}/flagged-pairs/exclude", headers=headers)
    assert response.json() == {"action": "exclude", "pairs": 2}
    assert client.post(f"{base}/flagged-pairs/nuke", headers=headers).status_code == 422

    titled = make_experiment(owner, slug="titled", status="draft", reviewer_title="OpenAI or not?")
    response = client.post("/api/experiments/titled/open", headers=headers)
    assert response.status_code == 409
    assert response.json()["rows"][0]["column"] == "reviewer-facing title"
    response = client.post("/api/experiments/titled/open?confirm_leaks=true", headers=headers)
    assert response.status_code == 200
    titled.refresh_from_db()
    assert titled.status == "open"
