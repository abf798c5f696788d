from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from reviewapp.experiments import DimensionError, create_experiment
from reviewapp.models import DEFAULT_DIMENSIONS, Experiment
from reviewapp.results.by_tag import check_tag_field


class Command(BaseCommand):
    help = "Create an experiment (the web page 'New experiment' does the same)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", help="Display name (default: the slug).")
        parser.add_argument("--owner", required=True, help="Username of the owner.")
        parser.add_argument(
            "--dimensions",
            default=",".join(DEFAULT_DIMENSIONS),
            help="Comma-separated rubric dimensions, in order (default: %(default)s).",
        )
        parser.add_argument("--reviews-per-pair", type=int, default=3)
        parser.add_argument("--baseline", default="", help="Baseline model name.")
        parser.add_argument("--instructions", default="", help="Markdown shown to reviewers.")
        parser.add_argument("--no-ties", action="store_true")
        parser.add_argument("--require-rationale", action="store_true")
        parser.add_argument("--ask-strength", action="store_true")
        parser.add_argument(
            "--ask-acceptable",
            action="store_true",
            help="Also ask, for each output, whether it is acceptable.",
        )
        parser.add_argument(
            "--render-mode",
            choices=Experiment.RenderMode.values,
            default=Experiment.RenderMode.MARKDOWN,
            help="How reviewers see prompts and outputs (default: %(default)s).",
        )
        parser.add_argument(
            "--margin",
            type=float,
            default=0.05,
            help="Non-inferiority margin, 0 to 0.25 (default: %(default)s).",
        )
        parser.add_argument(
            "--tag-field",
            default="",
            metavar="FIELD",
            help="Pair metadata field to break the results down by (default: none).",
        )
        parser.add_argument(
            "--strategy",
            choices=Experiment.Strategy.values,
            default=Experiment.Strategy.SPREAD,
            help="Which pairs the queue serves first: spread (fewest reviews first) or "
            "complete (pairs already started first) (default: %(default)s).",
        )
        parser.add_argument(
            "--calibration-pairs",
            type=int,
            default=0,
            help="The first N pairs uploaded go to every reviewer first (default: 0).",
        )
        parser.add_argument(
            "--repeat-rate",
            type=float,
            default=0.0,
            help="Share of each reviewer's pairs shown again later, sides swapped "
            "(0 to 0.5; default: 0).",
        )
        parser.add_argument("--seed", type=int, help="Random seed (default: random).")
        parser.add_argument("--open", action="store_true", help="Open it for review at once.")
        parser.add_argument("--reviewers", default="", help="Comma-separated usernames to invite.")

    def handle(self, *args, **opts):
        users = get_user_model().objects
        try:
            owner = users.get(username=opts["owner"])
        except users.model.DoesNotExist:
            raise CommandError(f"No user named {opts['owner']!r}.") from None
        if Experiment.objects.filter(slug=opts["slug"]).exists():
            raise CommandError(f"An experiment with slug {opts['slug']!r} already exists.")
        if not 1 <= opts["reviews_per_pair"] <= 100:
            raise CommandError("--reviews-per-pair must be between 1 and 100.")
        if not 0 <= opts["margin"] <= 0.25:
            raise CommandError("--margin must be between 0 and 0.25.")
        try:
            tag_field = check_tag_field(opts["tag_field"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        if opts["calibration_pairs"] < 0:
            raise CommandError("--calibration-pairs must be 0 or more.")
        if not 0 <= opts["repeat_rate"] <= 0.5:
            raise CommandError("--repeat-rate must be between 0 and 0.5.")
        reviewer_names = [n.strip() for n in opts["reviewers"].split(",") if n.strip()]
        reviewers = list(users.filter(username__in=reviewer_names))
        missing = set(reviewer_names) - {u.username for u in reviewers}
        if missing:
            raise CommandError(f"No user named: {', '.join(sorted(missing))}.")
        extra = {"seed": opts["seed"]} if opts["seed"] is not None else {}
        try:
            experiment = create_experiment(
                owner=owner,
                name=opts["name"] or opts["slug"],
                slug=opts["slug"],
                dimensions=opts["dimensions"].split(","),
                reviews_per_pair=opts["reviews_per_pair"],
                baseline_model=opts["baseline"],
                instructions=opts["instructions"],
                allow_ties=not opts["no_ties"],
                require_rationale=opts["require_rationale"],
                ask_strength=opts["ask_strength"],
                ask_acceptable=opts["ask_acceptable"],
                render_mode=opts["render_mode"],
                margin=opts["margin"],
                tag_field=tag_field,
                assignment_strategy=opts["strategy"],
                calibration_pairs=opts["calibration_pairs"],
                repeat_rate=opts["repeat_rate"],
                status=Experiment.Status.OPEN if opts["open"] else Experiment.Status.DRAFT,
                **extra,
            )
        except DimensionError as error:
            raise CommandError(str(error)) from error
        experiment.reviewers.add(*reviewers)
        self.stdout.write(
            f"Created experiment {experiment.slug} ({experiment.get_status_display()})."
        )
