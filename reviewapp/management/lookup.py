"""What the management commands share: finding the experiment they were given."""

from django.core.management.base import CommandError

from reviewapp.models import Experiment


def experiment_or_error(slug: str) -> Experiment:
    try:
        return Experiment.objects.get(slug=slug)
    except Experiment.DoesNotExist:
        raise CommandError(f"No experiment with slug {slug!r}.") from None
