import csv
import io
import json

from django.core.management.base import BaseCommand, CommandError

from reviewapp.exports import neutralise_cell
from reviewapp.management.lookup import experiment_or_error
from reviewapp.results import RESULT_TABLES, compute_results, result_table
from reviewapp.results.by_tag import check_tag_field


class Command(BaseCommand):
    help = (
        "Print an experiment's results: the same JSON as results.json, or one of its tables as CSV."
    )

    def add_arguments(self, parser):
        parser.add_argument("experiment", help="Experiment slug.")
        parser.add_argument("--format", choices=("json", "csv"), default="json")
        parser.add_argument(
            "--table",
            choices=RESULT_TABLES,
            default="pairs",
            help="CSV only: which table (default: %(default)s).",
        )
        parser.add_argument(
            "--resamples",
            type=int,
            default=1000,
            help="Bootstrap resamples for the rating intervals; 0 skips them "
            "(default: %(default)s).",
        )
        parser.add_argument(
            "--include-automatic",
            action="store_true",
            help="Count automatic judges' judgments too (left out by default).",
        )
        parser.add_argument(
            "--by",
            metavar="FIELD",
            help="Pair metadata field for the results by tag (default: the experiment's "
            "tag field; an empty string: none).",
        )
        parser.add_argument("-o", "--output", help="File to write (default: standard output).")

    def handle(self, *args, **opts):
        experiment = experiment_or_error(opts["experiment"])
        if opts["resamples"] < 0:
            raise CommandError("--resamples must be >= 0.")
        by = opts["by"]
        if by is not None:
            try:
                by = check_tag_field(by)
            except ValueError as error:
                raise CommandError(str(error)) from None
        results = compute_results(
            experiment,
            n_resamples=opts["resamples"],
            include_automatic=opts["include_automatic"],
            by=by,
        )
        if opts["format"] == "json":
            text = json.dumps(results, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
        else:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            header, rows = result_table(results, opts["table"])
            writer.writerow(header)
            for row in rows:
                writer.writerow(["" if v is None else neutralise_cell(v) for v in row])
            text = buffer.getvalue()
        if opts["output"]:
            with open(opts["output"], "w", newline="", encoding="utf-8") as out:
                out.write(text)
        else:
            self.stdout.write(text, ending="")
