"""Upload friendliness (issue 15, item 8): JSON numbers and booleans in text columns read as
their JSON text and counted as a warning; Excel and UTF-16 files named with what to do; a
wrong header listing the columns found and the nearest expected names; inviting several
usernames invites the known ones and keeps the unknown ones in the box."""

import io
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from reviewapp.judgment_import import JudgmentImportError, preview_judgments
from reviewapp.models import Membership, Pair
from reviewapp.tokens import create_token
from reviewapp.upload_hints import nearest_names
from reviewapp.uploads import UploadError, import_upload, preview_upload
from tests.conftest import make_experiment, make_user

PUBLISHED = Path(__file__).parent / "resources" / "published"
TRUE_OUTPUTS = PUBLISHED / "pandalm_pairs_true.jsonl"  # six outputs are the JSON value true
XLSX_HEAD = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(range(256))
XLS_HEAD = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512)
WIDE = "pair_id,prompt,model_a,output_a,model_b,output_b\nq1,Hi,m1,x,m2,y\n"


@pytest.fixture
def experiment(owner):
    return make_experiment(owner, slug="friendly")


@pytest.mark.django_db
def test_published_pandalm_true_outputs_are_read_as_text_and_counted(experiment):
    preview = preview_upload(experiment, TRUE_OUTPUTS)
    assert (preview.pairs_created, preview.values_as_text) == (8, 6)
    assert "Warning: 6 JSON number(s)/boolean(s) in text columns read as text." in (
        preview.summary()
    )
    import_upload(experiment, TRUE_OUTPUTS)
    outputs = dict(Pair.objects.values_list("external_id", "output_a"))
    assert outputs["pandalm-0157"] == "true"  # the JSON text, not Python's "True"
    assert outputs["pandalm-0160"] != "true"
    # Numbers too, as JSON writes them; metadata numbers stay numbers.
    row = {"pair_id": "n1", "prompt": 42, "model_a": "m1", "output_a": 1.5, "model_b": "m2",
           "output_b": False, "score": 7}  # fmt: skip
    result = import_upload(experiment, io.BytesIO(json.dumps(row).encode()), name="n.jsonl")
    assert result.values_as_text == 3
    pair = Pair.objects.get(external_id="n1")
    assert (pair.prompt, pair.output_a, pair.output_b) == ("42", "1.5", "false")
    assert pair.metadata == {"score": 7}


@pytest.mark.django_db
def test_the_preview_page_and_the_api_show_the_warning(experiment, owner, client):
    client.force_login(owner)
    upload = SimpleUploadedFile("pandalm.jsonl", TRUE_OUTPUTS.read_bytes())
    response = client.post(
        reverse("owner-upload", args=[experiment.slug]), {"file": upload, "pairing": "all"},
        follow=True,
    )  # fmt: skip
    html = response.content.decode()
    assert 'id="values-as-text"' in html and "6 values in text columns" in html
    token = create_token(owner)[1]
    response = client.post(
        f"/api/experiments/{experiment.slug}/pairs?dry_run=true", data=TRUE_OUTPUTS.read_bytes(),
        content_type="application/x-ndjson", headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert response.status_code == 200 and response.json()["values_as_text"] == 6


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name, data, expected",
    [
        ("pairs.csv", XLSX_HEAD, "a ZIP archive, such as an Excel workbook (.xlsx)"),
        ("pairs.csv", XLS_HEAD, "an Excel 97-2003 workbook (.xls)"),
        ("pairs.csv", WIDE.encode("utf-16"), "UTF-16 text (it starts with a UTF-16 byte order"),
        ("pairs.txt", WIDE.encode("utf-16-be"), "UTF-16 text (every other byte is 0)"),
    ],
)
def test_excel_and_utf16_files_are_named_with_what_to_do(
    experiment, owner, client, name, data, expected
):
    with pytest.raises(UploadError) as caught:
        import_upload(experiment, io.BytesIO(data), name=name)
    message = str(caught.value)
    assert f"file: the file is {expected}" in message
    assert "File > Save As > 'CSV UTF-8 (Comma delimited)'" in message
    assert not Pair.objects.exists()
    # The same words for judgments, and on the web page.
    with pytest.raises(JudgmentImportError, match=r"the file is .*Save As"):
        preview_judgments(experiment, io.BytesIO(data))
    client.force_login(owner)
    response = client.post(
        reverse("owner-upload", args=[experiment.slug]),
        {"file": SimpleUploadedFile(name, data), "pairing": "all"}, follow=True,
    )  # fmt: skip
    assert expected.replace("'", "&#x27;") in response.content.decode()


@pytest.mark.django_db
def test_a_header_problem_lists_the_columns_found_and_the_nearest_names(experiment):
    text = "id,prompt,model1,output1,model2,output2\nq1,Hi,m1,x,m2,y\n"
    with pytest.raises(UploadError) as caught:
        import_upload(experiment, io.BytesIO(text.encode()), name="p.csv")
    message = str(caught.value)
    assert "the header has id, prompt, model1, output1, model2, output2" in message
    for hint in ["model1 -> model_a?", "output1 -> output_a?", "model2 -> model_b?",
                 "output2 -> output_b?"]:  # fmt: skip
        assert hint in message
    assert "prompt -> prompt_id?" not in message  # prompt is a column of its own
    # A wide file missing only its prompt column.
    text = "pair_id,promt,model_a,output_a,model_b,output_b\nq1,Hi,m1,x,m2,y\n"
    with pytest.raises(UploadError, match=r"needs the column\(s\) prompt; .*promt -> prompt\?"):
        import_upload(experiment, io.BytesIO(text.encode()), name="p.csv")


def test_nearest_names_offers_each_found_column_once():
    assert nearest_names(["output1", "output2"], ["output_a", "output_b"]) == [
        "output1 -> output_a?", "output2 -> output_b?",
    ]  # fmt: skip
    assert nearest_names(["colour"], ["output_a"]) == []  # nothing close: no guess
    assert nearest_names([], ["prompt"]) == []


@pytest.mark.django_db
def test_inviting_several_usernames_invites_the_known_and_keeps_the_unknown(
    experiment, owner, client
):
    make_user("alice")
    make_user("bob")
    client.force_login(owner)
    url = reverse("owner-reviewers", args=[experiment.slug])
    response = client.post(url, {"usernames": "alice, dave\nbob, <b>eve</b>"}, follow=True)
    members = Membership.objects.filter(experiment=experiment)
    assert sorted(members.values_list("user__username", flat=True)) == ["alice", "bob"]
    html = response.content.decode()
    assert "Invited 2 reviewer(s): alice, bob." in html
    assert "No user named &lt;b&gt;eve&lt;/b&gt;, dave: not invited" in html
    # The unknown names wait in the box, once.
    box = response.context["reviewers_form"]
    assert box.initial["usernames"] == "<b>eve</b>\ndave"
    again = client.get(reverse("owner-experiment", args=[experiment.slug]))
    assert again.context["reviewers_form"].initial["usernames"] == ""
    # Nobody known: nobody invited, the names still kept.
    response = client.post(url, {"usernames": "zed"}, follow=True)
    assert response.context["reviewers_form"].initial["usernames"] == "zed"
    assert members.count() == 2
