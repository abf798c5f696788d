from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reviewapp.judgment_import import JudgmentImportError, import_judgments
from reviewapp.management.lookup import experiment_or_error
from reviewapp.models import Membership


class Command(BaseCommand):
    help = (
        "Import judgments made elsewhere (another tool, a spreadsheet, an automatic judge) "
        "from a CSV in the judgments export's format. The pairs must already be in the "
        "experiment. Nothing is imported if any row is wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument("experiment", help="Experiment slug.")
        parser.add_argument(
            "file", type=Path, help="CSV in the judgments export's format, optionally gzip."
        )
        parser.add_argument(
            "--kind",
            choices=Membership.Kind.values,
            default=Membership.Kind.HUMAN,
            help="Kind given to reviewers who are not members of the experiment yet "
            "(default: %(default)s; an LLM judge is 'automatic').",
        )

    def handle(self, *args, **opts):
        experiment = experiment_or_error(opts["experiment"])
        path = opts["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            result = import_judgments(experiment, path, kind=opts["kind"])
        except JudgmentImportError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(result.summary())
