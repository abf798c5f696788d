"""Rebuild the files in this folder from the shared real-data set (not run by the tests).

    python tests/resources/published/convert.py /path/to/shared/data

Pairs keep their real ids and model names; prompts and outputs are cut to their first
TRIM characters (the results do not depend on the text, and the full files are megabytes).
Judgments are written in the judgments export's CSV format, screen side unknown.
"""

import csv
import json
import sys
from pathlib import Path

TRIM = 60
HERE = Path(__file__).resolve().parent
EXPORT_COLUMNS = [
    "experiment", "pair_id", "reviewer", "dimension", "model_a", "model_b", "left_model",
    "choice", "winner", "submitted_at", "seconds_on_pair", "rationale", "strength", "excluded",
]  # fmt: skip


def write_pairs(source: Path, target: Path) -> dict:
    pairs = {}
    with open(target, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["pair_id", "prompt", "model_a", "output_a", "model_b", "output_b"])
        for line in source.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            p = json.loads(line)
            pairs[p["pair_id"]] = p
            # Six PandaLM outputs are JSON booleans (the model answered "True"): kept as text.
            text = {k: str(p[k])[:TRIM] for k in ("prompt", "output_a", "output_b")}
            writer.writerow(
                [p["pair_id"], text["prompt"].strip() or "(empty)", p["model_a"],
                 text["output_a"], p["model_b"], text["output_b"]]
            )  # fmt: skip
    return pairs


def write_judgments(source: Path, target: Path, pairs: dict, experiment: str) -> None:
    with (
        open(source, encoding="utf-8", newline="") as f,
        open(target, "w", newline="", encoding="utf-8") as out,
    ):
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        for row in csv.DictReader(f):
            if not row["winner"]:
                continue  # AlpacaEval: the judge's answer could not be parsed (8 rows)
            p = pairs[row["pair_id"]]
            choice = "tie" if row["winner"] == "tie" else ""
            writer.writerow(
                [experiment, row["pair_id"], row["rater"], "overall", p["model_a"], p["model_b"],
                 "", choice, row["winner"], "", "", "", "", "false"]
            )  # fmt: skip


def write_tulu_judgments(source: Path, target: Path, pairs: dict) -> None:
    """Tulu 1: every judgment but the 9 superseded ones (the same rater judged the pair
    again later), with the side shown on the left, the time and both acceptability answers.
    The original times have no zone: written as UTC."""
    with (
        open(source, encoding="utf-8", newline="") as f,
        open(target, "w", newline="", encoding="utf-8") as out,
    ):
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*EXPORT_COLUMNS, "a_acceptable", "b_acceptable"])
        for row in csv.DictReader(f):
            if row["superseded"] == "1":
                continue
            p = pairs[row["pair_id"]]
            left, winner = row["shown_left"], row["winner"]
            choice = "tie" if winner == "tie" else "left" if winner == left else "right"
            submitted_at = row["timestamp"].replace(" ", "T") + "+00:00"
            writer.writerow(
                [TULU, row["pair_id"], row["rater"], "overall", p["model_a"], p["model_b"],
                 left, choice, winner, submitted_at, "", "", row["strength"], "false",
                 row["a_acceptable"], row["b_acceptable"]]
            )  # fmt: skip


TULU = "tulu1"


def main(data: Path) -> None:
    pandalm = write_pairs(data / "pandalm_pairs.jsonl", HERE / "pandalm_pairs.csv")
    write_judgments(
        data / "pandalm_judgments.csv", HERE / "pandalm_judgments.csv", pandalm, "pandalm"
    )
    alpaca = write_pairs(data / "alpacaeval_phi2_pairs.jsonl", HERE / "alpacaeval_phi2_pairs.csv")
    write_judgments(
        data / "alpacaeval_phi2_judgments.csv",
        HERE / "alpacaeval_phi2_judgments.csv",
        alpaca,
        "alpacaeval-phi2",
    )
    tulu = write_pairs(data / "tulu1_pairs.jsonl", HERE / "tulu1_pairs.csv")
    write_tulu_judgments(data / "tulu1_judgments.csv", HERE / "tulu1_judgments.csv", tulu)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
