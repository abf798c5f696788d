import sys

from django.core.management.base import BaseCommand, CommandError

from reviewapp.exports import write_judgments_csv
from reviewapp.models import Experiment


class Command(BaseCommand):
    help = "Write all judgments of an experiment as CSV (the same file as the web export)."

    def add_arguments(self, parser):
        parser.add_argument("experiment", help="Experiment slug.")
        parser.add_argument("-o", "--output", help="File to write (default: standard output).")

    def handle(self, *args, **opts):
        try:
            experiment = Experiment.objects.get(slug=opts["experiment"])
        except Experiment.DoesNotExist:
            raise CommandError(f"No experiment with slug {opts['experiment']!r}.") from None
        if opts["output"]:
            with open(opts["output"], "w", newline="", encoding="utf-8") as out:
                rows = write_judgments_csv(experiment, out)
            self.stderr.write(f"Wrote {rows} judgment rows to {opts['output']}.")
        else:
            write_judgments_csv(experiment, sys.stdout)
