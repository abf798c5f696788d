import sys

from django.core.management.base import BaseCommand

from reviewapp.exports import write_judgments_csv
from reviewapp.management.lookup import experiment_or_error


class Command(BaseCommand):
    help = "Write all judgments of an experiment as CSV (the same file as the web export)."

    def add_arguments(self, parser):
        parser.add_argument("experiment", help="Experiment slug.")
        parser.add_argument("-o", "--output", help="File to write (default: standard output).")

    def handle(self, *args, **opts):
        experiment = experiment_or_error(opts["experiment"])
        if opts["output"]:
            with open(opts["output"], "w", newline="", encoding="utf-8") as out:
                rows = write_judgments_csv(experiment, out)
            self.stderr.write(f"Wrote {rows} judgment rows to {opts['output']}.")
        else:
            write_judgments_csv(experiment, sys.stdout)
