from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reviewapp.experiments import flag_pair_leaks
from reviewapp.management.lookup import experiment_or_error
from reviewapp.upload_parser import PAIRINGS
from reviewapp.uploads import UploadError, import_upload, preview_upload


class Command(BaseCommand):
    help = (
        "Import pairs from a CSV or JSONL file (optionally gzip-compressed) into an experiment; "
        "the same checks and import as the web upload. Nothing is imported if any row is wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument("experiment", help="Experiment slug.")
        parser.add_argument("file", type=Path, help="CSV or JSONL file, optionally .gz.")
        parser.add_argument(
            "--pairing",
            choices=PAIRINGS,
            default="all",
            help="Long format only: pair all models of a prompt, or each against the "
            "experiment's baseline model (default: %(default)s).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file and report; write nothing."
        )

    def handle(self, *args, **opts):
        experiment = experiment_or_error(opts["experiment"])
        path = opts["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        stage = preview_upload if opts["dry_run"] else import_upload
        try:
            result = stage(experiment, path, opts["pairing"], name=path.name)
        except UploadError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(result.summary())
        if result.committed and (n_flagged := flag_pair_leaks(experiment)):
            self.stdout.write(
                f"{n_flagged} pair(s) may reveal which model wrote an output (a model's name "
                "or a self-identification): see the experiment page to exclude or keep them."
            )
