"""import_judgments: real published data reproduced through the command and `results`,
export -> import round trips, and row-numbered refusals that write nothing."""

import gzip
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse

from reviewapp.experiments import create_experiment
from reviewapp.exports import write_judgments_csv
from reviewapp.judgment_import import JudgmentImportError, import_judgments
from reviewapp.models import Assignment, Judgment, Membership, Pair, pair_shuffle_key
from reviewapp.results import compute_results
from reviewapp.uploads import import_upload
from tests.conftest import make_user
from tests.test_results import build_judged, check_against_libraries, exported

PUBLISHED = Path(__file__).parent / "resources" / "published"
HEADER = (
    "experiment,pair_id,reviewer,dimension,model_a,model_b,left_model,choice,winner,"
    "submitted_at,seconds_on_pair,rationale,strength,excluded"
)


def results_via_command(slug: str, *options: str) -> dict:
    out = io.StringIO()
    call_command("results", slug, "--format", "json", *options, stdout=out)
    return json.loads(out.getvalue())


# --------------------------------------------------------------------------- published data


@pytest.mark.django_db
def test_pandalm_cohen_kappas_reproduced(owner, client):
    """PandaLM (five 7B models, 999 pairs, three annotators on every pair): the README's
    pairwise Cohen's kappa 0.85 / 0.88 / 0.86 (0.852 / 0.879 / 0.862 to 3 d.p.)."""
    experiment = create_experiment(
        owner=owner, name="PandaLM", slug="pandalm", dimensions=["overall"], reviews_per_pair=3
    )
    import_upload(experiment, PUBLISHED / "pandalm_pairs.csv", pairing="all")
    call_command("import_judgments", "pandalm", str(PUBLISHED / "pandalm_judgments.csv"),
                 stdout=io.StringIO())  # fmt: skip
    results = results_via_command("pandalm", "--resamples", "200")
    overall = results["dimensions"]["overall"]
    kappas = {
        (d["reviewer_1"], d["reviewer_2"]): d["kappa"]
        for d in overall["agreement"]["cohen_pairs_detail"]
    }
    assert {k: round(v, 3) for k, v in kappas.items()} == {
        ("annotator1", "annotator2"): 0.852,
        ("annotator1", "annotator3"): 0.879,
        ("annotator2", "annotator3"): 0.862,
    }
    assert all(d["items"] == 999 for d in overall["agreement"]["cohen_pairs_detail"])
    # The shared data's own check: Fleiss' kappa 0.864 over the 999 triply-judged pairs.
    assert overall["agreement"]["fleiss_items"] == 999
    assert round(overall["agreement"]["fleiss_kappa"], 3) == 0.864
    assert overall["n_judgments"] == 2997
    assert len(overall["pairs"]) == 10 and len(overall["models"]) == 5
    assert overall["position_bias"]["n"] == 0  # the screen side is not in the data
    # The 5-model import on the page: a ratings plot and table, everything escaped.
    client.force_login(owner)
    html = client.get(reverse("results-page", args=["pandalm"])).content.decode()
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="plot"') == 2
    assert "Ratings on overall" in html and "cerebras-gpt-6.7B" in html
    check_against_libraries(experiment, compute_results(experiment, n_resamples=0),
                            exported(experiment))  # fmt: skip


@pytest.mark.django_db
def test_alpacaeval_win_rates_reproduced(owner):
    """AlpacaEval 1 (GPT-4 judge) win rates against text_davinci_003, ties as half, the 8
    unparsed verdicts left out: phi-2 30.66, phi-2-sft 68.53, phi-2-dpo 82.34 %."""
    experiment = create_experiment(
        owner=owner, name="AlpacaEval phi-2", slug="alpacaeval-phi2", dimensions=["overall"],
        reviews_per_pair=1, baseline_model="text_davinci_003",
    )  # fmt: skip
    import_upload(experiment, PUBLISHED / "alpacaeval_phi2_pairs.csv", pairing="all")
    call_command(
        "import_judgments", experiment.slug, str(PUBLISHED / "alpacaeval_phi2_judgments.csv"),
        "--kind", "automatic", stdout=io.StringIO(),
    )  # fmt: skip
    assert Membership.objects.get(experiment=experiment).kind == "automatic"
    # An automatic judge is left out of the statistics unless asked for.
    assert results_via_command(experiment.slug, "--resamples", "0")["verdict"] == (
        "No judgments yet."
    )
    results = results_via_command(experiment.slug, "--include-automatic", "--resamples", "200")
    pairs = {p["model_x"]: p for p in results["dimensions"]["overall"]["pairs"]}
    assert {p["model_y"] for p in pairs.values()} == {"text_davinci_003"}
    published = {
        "phi-2": (30.66, 234, 543, 22, 799),
        "phi-2-sft": (68.53, 551, 253, 0, 804),
        "phi-2-dpo": (82.34, 662, 142, 0, 804),
    }
    for model, (rate, wins, losses, ties, n) in published.items():
        pair = pairs[model]
        assert round(100 * pair["x_win_rate_ties_half"], 2) == rate
        assert (pair["x_wins"], pair["y_wins"], pair["ties"], pair["n"]) == (wins, losses, ties, n)
    # The verdict quotes the prompt-clustered interval: AlpacaEval repeats some instructions
    # word for word (791 distinct prompts; one of them 15 times per model), so it is wider
    # than the Wilson interval. Its bootstrap draws follow the experiment's random seed.
    assert re.match(
        "phi-2-dpo beats text_davinci_003 on overall: 82 % of 804 decided judgments, "
        r"95 % CI \d\d–\d\d % \(clustered by prompt\)",
        results["verdict"],
    )
    dpo = pairs["phi-2-dpo"]
    clustered, wilson = dpo["x_win_rate_cluster_ci"], dpo["x_win_rate_ci"]
    # Wider, not wider at each end: a bootstrap percentile interval need not contain the
    # Wilson interval (with one seed of CI its upper end came out 0.00002 below Wilson's).
    assert clustered[1] - clustered[0] > wilson[1] - wilson[0]
    assert clustered[0] < dpo["x_win_rate_ties_half"] < clustered[1]
    assert results["dimensions"]["overall"]["agreement"]["items"] == 0  # one judge per pair


# --------------------------------------------------------------------------- round trip


def copy_pairs(source, target) -> None:
    Pair.objects.bulk_create(
        Pair(
            experiment=target, external_id=p.external_id, prompt=p.prompt, model_a=p.model_a,
            output_a=p.output_a, model_b=p.model_b, output_b=p.output_b,
            shuffle_key=pair_shuffle_key(target.seed, p.external_id),
        )
        for p in source.pairs.all()
    )  # fmt: skip


def fresh_copy(experiment, slug: str):
    """A new experiment with the same pairs, rubric and settings (and seed: the bootstrap
    intervals are seeded by the experiment), but no judgments."""
    copy = create_experiment(
        owner=experiment.owner, name=slug, slug=slug, seed=experiment.seed,
        baseline_model=experiment.baseline_model, reviews_per_pair=experiment.reviews_per_pair,
        dimensions=list(experiment.dimensions.values_list("name", flat=True)),
    )  # fmt: skip
    copy_pairs(experiment, copy)
    return copy


def assert_same_results(got: dict, want: dict) -> None:
    """Equal but for the slug; seconds per pair travel rounded to the millisecond."""

    # Floats to 12 significant digits: the imported judgments are summed in another order.
    def rounded(text: str) -> float:
        return float(f"{float(text):.12g}")

    got = json.loads(json.dumps(got), parse_float=rounded)
    want = json.loads(json.dumps(want), parse_float=rounded)
    got.pop("experiment"), want.pop("experiment")
    for mine, theirs in zip(got["reviewers"], want["reviewers"], strict=True):
        # SQLite date arithmetic works in whole milliseconds.
        assert mine.pop("median_seconds") == pytest.approx(theirs.pop("median_seconds"), abs=5e-3)
    assert got == want


@pytest.mark.django_db
def test_export_then_import_gives_identical_results(owner, tmp_path):
    original = build_judged(owner, slug="original", seed=11, unknown_side_rate=0.3)
    Membership.objects.filter(experiment=original, user__username="dan").update(excluded=True)
    Assignment.objects.filter(experiment=original, reviewer__username="ann").update(
        rationale='-because, "quoted"\nand two lines'
    )
    path = tmp_path / "original.csv"
    with open(path, "w", newline="", encoding="utf-8") as out:
        write_judgments_csv(original, out)
    copy = fresh_copy(original, "copy")
    out = io.StringIO()
    call_command("import_judgments", "copy", str(path), stdout=out)
    assert "Imported" in out.getvalue()
    assert Membership.objects.get(experiment=copy, user__username="dan").excluded
    # Same results (seconds per pair are exported to the millisecond)...
    assert_same_results(
        compute_results(copy, n_resamples=100), compute_results(original, n_resamples=100)
    )
    # ... and the same export, row for row, but for the experiment column.
    again = exported(copy).drop(columns="experiment")
    assert again.equals(exported(original).drop(columns="experiment"))
    # Imported assignments hold their pairs' review slots.
    reviews = Counter(
        Assignment.objects.filter(experiment=original).values_list("pair__external_id", flat=True)
    )
    slots = dict(copy.pairs.values_list("external_id", "slots_taken"))
    assert slots == {pair_id: reviews.get(pair_id, 0) for pair_id in slots}


@pytest.mark.django_db
def test_round_trip_restores_neutralised_cells(owner, tmp_path):
    """Names the export had to protect from spreadsheets ('=evil()' -> "'=evil()") come
    back as they were."""
    original = build_judged(
        owner, slug="evil", models=("=evil()", "+plus", "good"), baseline="good",
        reviewer_names=("-dash", "@at", "ok"), n_pairs=30, seed=5,
    )  # fmt: skip
    path = tmp_path / "evil.csv"
    with open(path, "w", newline="", encoding="utf-8") as out:
        write_judgments_csv(original, out)
    assert "'=evil()" in path.read_text()
    copy = fresh_copy(original, "evil-copy")
    import_judgments(copy, path)
    members = Membership.objects.filter(experiment=copy).values_list("user__username", flat=True)
    assert set(members) == {"-dash", "@at", "ok"}
    assert_same_results(
        compute_results(copy, n_resamples=50), compute_results(original, n_resamples=50)
    )


# --------------------------------------------------------------------------- refusals


def two_model_experiment(owner, slug="exp"):
    experiment = create_experiment(
        owner=owner, name=slug, slug=slug, dimensions=["overall", "style"], baseline_model="base"
    )
    Pair.objects.bulk_create(
        Pair(experiment=experiment, external_id=f"p{i}", prompt="q", model_a="base",
             output_a="x", model_b="ft", output_b="y")
        for i in range(1, 4)
    )  # fmt: skip
    return experiment


def write(tmp_path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "judgments.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


GOOD = "e,p1,rev,overall,base,ft,base,left,base,2024-05-01T12:00:00+00:00,30.5,,clear,false"


@pytest.mark.django_db
def test_refuses_bad_rows_with_line_numbers_and_writes_nothing(owner, tmp_path):
    experiment = two_model_experiment(owner)
    path = write(
        tmp_path,
        GOOD,
        "e,p9,rev,overall,base,ft,,,base,,,,,",  # line 3: unknown pair
        "e,p2,rev,overall,ft,base,,,ft,,,,,",  # line 4: models swapped
        "e,p2,rev,safety,base,ft,,,ft,,,,,",  # line 5: unknown dimension
        "e,p3,rev,overall,base,ft,base,up,ft,,,,,",  # line 6: bad choice
        "e,p3,rev,style,base,ft,base,left,ft,,,,,",  # line 7: choice contradicts the winner
        "e,p1,bob,overall,base,ft,,left,ft,,,,,",  # line 8: left without left_model
        "e,p1,cat,overall,base,ft,,,nobody,,,,,",  # line 9: winner not a model
        "e,p1,dan,overall,base,ft,,tie,tie,yesterday,,,,",  # line 10: bad time
        "e,p1,eve,overall,base,ft,,tie,tie,,,,clear,",  # line 11: strength on a tie
        "e,p1,rev,overall,base,ft,base,left,base,2024-05-01T12:00:00+00:00,30.5,,clear,",  # dup
        "e,p2,fay,overall,base,ft,base,,base,,,,,",  # line 13: ok
        "e,p2,fay,style,base,ft,ft,,base,,,,,",  # line 14: side differs within the review
    )
    with pytest.raises(JudgmentImportError) as caught:
        import_judgments(experiment, path)
    found = {(e.row, e.column) for e in caught.value.errors}
    assert found == {
        (6, "choice"), (7, "choice"), (8, "choice"), (9, "winner"), (10, "submitted_at"),
        (11, "strength"),
    }  # fmt: skip
    assert "contradicts the winner 'ft'" in str(caught.value)
    # Parsing errors stop the check against the experiment; fix them and the rest shows.
    path = write(
        tmp_path,
        GOOD,
        "e,p9,rev,overall,base,ft,,,base,,,,,",
        "e,p2,rev,overall,ft,base,,,ft,,,,,",
        "e,p2,rev,safety,base,ft,,,ft,,,,,",
        "e,p1,rev,overall,base,ft,base,left,base,2024-05-01T12:00:00+00:00,30.5,,clear,",
        "e,p2,fay,overall,base,ft,base,,base,,,,,",
        "e,p2,fay,style,base,ft,ft,,base,,,,,",
    )
    with pytest.raises(JudgmentImportError) as caught:
        import_judgments(experiment, path)
    messages = {(e.row, e.column): e.message for e in caught.value.errors}
    assert set(messages) == {
        (3, "pair_id"), (4, "model_a"), (5, "dimension"), (6, "dimension"), (8, "left_model"),
    }  # fmt: skip
    assert "'p9'" in messages[(3, "pair_id")]
    assert "line 2" in messages[(6, "dimension")]
    assert "overall, style" in messages[(5, "dimension")]
    assert not Assignment.objects.exists() and not Judgment.objects.exists()
    assert not get_user_model().objects.filter(username__in=["rev", "fay"]).exists()


@pytest.mark.django_db
def test_command_lists_first_20_errors_and_counts_the_rest(owner, tmp_path):
    two_model_experiment(owner)
    rows = [f"e,p1,r{i},overall,base,ft,,,nobody,,,,," for i in range(30)]
    with pytest.raises(CommandError) as caught:
        call_command("import_judgments", "exp", str(write(tmp_path, *rows)))
    text = str(caught.value)
    assert "30 problems" in text and "line 2, column winner" in text
    assert "line 21, column winner" in text and "line 22," not in text
    assert "and 10 more" in text


@pytest.mark.django_db
def test_refuses_wrong_header_and_empty_file(owner, tmp_path):
    experiment = two_model_experiment(owner)
    with pytest.raises(JudgmentImportError, match="missing column"):
        # (pair_id, reviewer, winner would be the minimal format: test_judgment_import_minimal)
        import_judgments(experiment, write(tmp_path, GOOD, header="pair_id,reviewer,verdict"))
    with pytest.raises(JudgmentImportError, match="no judgment rows"):
        import_judgments(experiment, write(tmp_path))


@pytest.mark.django_db
def test_refuses_a_pair_the_reviewer_already_reviewed(owner, tmp_path):
    experiment = two_model_experiment(owner)
    import_judgments(experiment, write(tmp_path, GOOD))
    with pytest.raises(JudgmentImportError, match="already reviewed pair 'p1'"):
        import_judgments(experiment, write(tmp_path, GOOD))
    assert Judgment.objects.count() == 1


@pytest.mark.django_db
def test_imports_sides_times_strength_and_exclusion(owner, tmp_path):
    experiment = two_model_experiment(owner)
    make_user("rev")  # an existing user is reused, not duplicated
    path = write(
        tmp_path,
        GOOD,
        "e,p1,rev,style,base,ft,base,tie,tie,2024-05-01T12:00:00+00:00,30.5,,,false",
        "e,p2,rev,overall,base,ft,ft,left,ft,2024-05-01T13:00:00Z,1,why,slight,false",
        "e,p3,bot,overall,base,ft,,,ft,2024-05-02 09:30:00,,,,true",
    )
    result = import_judgments(experiment, path, kind="automatic")
    assert (result.judgments_created, result.assignments_created) == (4, 3)
    assert result.reviewers_created == ["bot"] and result.unknown_side == 1
    first = Assignment.objects.get(pair__external_id="p1")
    assert first.left_is_a is True and first.seconds_on_pair == 30.5
    assert first.submitted_at.isoformat() == "2024-05-01T12:00:00+00:00"
    second = Assignment.objects.get(pair__external_id="p2")
    assert second.left_is_a is False and second.rationale == "why"
    assert second.judgments.get().strength == "slight"
    third = Assignment.objects.get(pair__external_id="p3")
    assert third.left_is_a is None and third.seconds_on_pair == 0
    assert not third.reviewer.has_usable_password()
    bot = Membership.objects.get(experiment=experiment, user__username="bot")
    assert (bot.kind, bot.excluded) == ("automatic", True)
    assert Membership.objects.get(experiment=experiment, user__username="rev").kind == "automatic"
    assert dict(experiment.pairs.values_list("external_id", "slots_taken")) == {
        "p1": 1, "p2": 1, "p3": 1,
    }  # fmt: skip
    results = compute_results(experiment, n_resamples=0, include_automatic=True)
    overall = results["dimensions"]["overall"]
    assert overall["n_judgments"] == 2  # bot is excluded
    assert overall["position_bias"] == {
        "n": 2, "left_wins": 2, "left_share": 1.0,
        "left_share_ci": overall["position_bias"]["left_share_ci"],
        "p_value": 0.5,
    }  # fmt: skip


# --------------------------------------------------------------------------- the shared reader


@pytest.mark.django_db
def test_reads_gzip_like_pair_uploads(owner, tmp_path):
    experiment = two_model_experiment(owner)
    path = tmp_path / "judgments.csv.gz"
    path.write_bytes(gzip.compress(f"{HEADER}\n{GOOD}\n".encode()))
    assert import_judgments(experiment, path).judgments_created == 1


@pytest.mark.django_db
def test_names_the_line_and_byte_that_is_not_utf8(owner, tmp_path):
    experiment = two_model_experiment(owner)
    path = tmp_path / "judgments.csv"
    path.write_bytes(f"{HEADER}\n{GOOD}\n".encode() + "e,p2,Jos\xe9\n".encode("latin-1"))
    with pytest.raises(JudgmentImportError) as caught:
        import_judgments(experiment, path)
    assert [(e.row, e.column) for e in caught.value.errors] == [(3, "")]
    assert "is not valid UTF-8" in str(caught.value)
    assert str(caught.value).startswith("No judgment was imported: 1 problem")


@pytest.mark.django_db
def test_refuses_a_row_with_too_few_cells_and_a_file_over_the_limit(owner, tmp_path, settings):
    experiment = two_model_experiment(owner)
    with pytest.raises(JudgmentImportError, match="line 3: has 3 fields but the header has 14"):
        import_judgments(experiment, write(tmp_path, GOOD, "e,p2,rev"))
    settings.REVIEWAPP_MAX_UPLOAD_BYTES = 100
    with pytest.raises(JudgmentImportError, match="the upload limit is 100 bytes"):
        import_judgments(experiment, write(tmp_path, GOOD))
    assert not Judgment.objects.exists()
