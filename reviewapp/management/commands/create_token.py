from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from reviewapp.tokens import create_token


class Command(BaseCommand):
    help = (
        "Create an API token for a user and print it (only once: it is stored hashed). "
        "The token has the user's permissions."
    )

    def add_arguments(self, parser):
        parser.add_argument("user", help="Username.")
        parser.add_argument("--name", default="", help="A label, e.g. where the token is used.")

    def handle(self, *args, **opts):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: opts["user"]})
        except User.DoesNotExist:
            raise CommandError(f"No user named {opts['user']!r}.") from None
        if not user.is_active:
            raise CommandError(f"User {opts['user']!r} is inactive; its tokens would be refused.")
        _, token = create_token(user, opts["name"] or "created with manage.py create_token")
        # The token alone on stdout, so `TOKEN=$(python manage.py create_token owner)` works.
        self.stdout.write(token)
        self.stderr.write(f"Created an API token for {user.get_username()}; it is not shown again.")
