import sys

from django.core.management.base import BaseCommand, CommandError

from reviewapp.management.lookup import experiment_or_error
from reviewapp.preferences import (
    PreferenceError,
    filter_from_params,
    preference_lines,
    summarise,
)


class Command(BaseCommand):
    help = (
        "Write an experiment's human preferences as JSONL for preference fine-tuning "
        '({"prompt", "chosen", "rejected"}, or OpenAI\'s format), with a summary on stderr.'
    )

    def add_arguments(self, parser):
        parser.add_argument("experiment", help="Experiment slug.")
        parser.add_argument("--dimension", default="", help="Default: the first dimension.")
        parser.add_argument("--min-judgments", default="1")
        parser.add_argument("--min-agreement", default="1/2", help="e.g. 2/3, 0.6 or 60%%.")
        parser.add_argument("--format", default="trl", choices=["trl", "openai"])
        parser.add_argument("--include-gold", action="store_true")
        parser.add_argument("--include-excluded-reviewers", action="store_true")
        parser.add_argument("--include-automatic", action="store_true")
        parser.add_argument("-o", "--output", help="File to write (default: standard output).")

    def handle(self, *args, **opts):
        experiment = experiment_or_error(opts["experiment"])
        params = {
            "dimension": opts["dimension"],
            "min_judgments": opts["min_judgments"],
            "min_agreement": opts["min_agreement"],
            "format": opts["format"],
        }
        for flag in ("include_gold", "include_excluded_reviewers", "include_automatic"):
            if opts[flag]:
                params[flag] = "on"
        try:
            flt = filter_from_params(experiment, params)
        except PreferenceError as error:
            raise CommandError(str(error)) from None
        if opts["output"]:
            with open(opts["output"], "w", encoding="utf-8", newline="\n") as out:
                out.writelines(preference_lines(experiment, flt))
        else:
            sys.stdout.writelines(preference_lines(experiment, flt))
        summary = summarise(experiment, flt).as_dict()
        left_out = ", ".join(f"{n} {reason}" for reason, n in summary["left_out"].items() if n)
        self.stderr.write(
            f"{summary['exported']} of {summary['pairs_considered']} judged pairs written "
            f"(dimension {summary['dimension']}); left out: {left_out or 'none'}."
        )
