import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from reviewapp.access import grant_owner_role


class Command(BaseCommand):
    help = (
        "Give a user the experiment-owner role (the reviewapp.add_experiment permission), "
        "creating the user when it does not exist yet. A new user's password is generated "
        "and printed once unless --password is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", default=None, help="For a new user only.")
        parser.add_argument("--email", default="")

    def handle(self, *args, **opts):
        User = get_user_model()
        username = opts["username"].strip()
        if not username:
            raise CommandError("Give a username.")
        user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
        if user is None:
            password = opts["password"] or secrets.token_urlsafe(12)
            user = User.objects.create_user(username, email=opts["email"], password=password)
            grant_owner_role(user)
            self.stdout.write(f"Created owner {username}.")
            if not opts["password"]:
                self.stdout.write(f"Password (shown once): {password}")
            return
        if opts["password"]:
            raise CommandError(
                f"{username!r} exists already; --password only applies to a new user "
                "(change a password with `manage.py changepassword`)."
            )
        grant_owner_role(user)
        self.stdout.write(f"{username} is an experiment owner.")
