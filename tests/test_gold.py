"""Gold pairs: uploaded with expected answers, mixed into every queue, never in the preferences."""

import pytest

from reviewapp.models import Pair
from reviewapp.uploads import UploadError, import_upload
from tests.conftest import make_experiment

HEADER = "pair_id,prompt,model_a,output_a,model_b,output_b"


def write(tmp_path, text, name="pairs.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.django_db
def test_gold_winner_and_per_dimension_columns(owner, tmp_path):
    experiment = make_experiment(owner, status="draft")
    path = write(
        tmp_path,
        f"{HEADER},gold_winner,gold_style\n"
        "g1,p,good,right answer,bad,wrong answer,good,tie\n"
        "g2,p,x,o1,y,o2,,y\n"
        "n1,p,x,o1,y,o2,,\n",
    )
    result = import_upload(experiment, path)
    assert result.gold_pairs == 2 and "2 gold pairs" in result.summary()
    g1, g2, n1 = (Pair.objects.get(external_id=i) for i in ("g1", "g2", "n1"))
    assert g1.is_gold and g1.gold == {
        "overall": "A", "accuracy": "A", "relevance": "A", "style": "tie", "usefulness": "A",
    }  # fmt: skip
    assert g2.is_gold and g2.gold == {"style": "B"}
    assert not n1.is_gold and n1.gold == {} and "gold_winner" not in n1.metadata


@pytest.mark.django_db
def test_gold_value_must_name_one_of_the_models(owner, tmp_path):
    experiment = make_experiment(owner, status="draft")
    path = write(tmp_path, f"{HEADER},gold_winner\ng1,p,good,a,bad,b,great\n")
    with pytest.raises(UploadError) as error:
        import_upload(experiment, path)
    assert "line 2, column gold_winner" in str(error.value) and "'great'" in str(error.value)
    assert Pair.objects.count() == 0


@pytest.mark.django_db
def test_gold_column_for_an_unknown_dimension_is_refused(owner, tmp_path):
    experiment = make_experiment(owner, status="draft")
    path = write(tmp_path, f"{HEADER},gold_charm\ng1,p,good,a,bad,b,good\n")
    with pytest.raises(UploadError) as error:
        import_upload(experiment, path)
    assert "gold_charm" in str(error.value) and "gold_overall" in str(error.value)
