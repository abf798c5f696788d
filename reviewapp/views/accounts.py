"""Login with throttling: after repeated failures for one username or one address,
further attempts are refused for a while, whatever the password."""

from datetime import timedelta

from django.contrib.auth import views as auth_views
from django.db.models import Q
from django.utils import timezone

from ..models import LoginFailure

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)


def client_address(request) -> str | None:
    # Behind a proxy, configure it to set REMOTE_ADDR (e.g. gunicorn --forwarded-allow-ips);
    # X-Forwarded-For is not trusted here because any client can send it.
    return request.META.get("REMOTE_ADDR") or None


def is_throttled(username: str, address: str | None) -> bool:
    since = timezone.now() - WINDOW
    recent = LoginFailure.objects.filter(at__gte=since)
    by_user = recent.filter(username=username.lower()).count() if username else 0
    by_address = recent.filter(ip_address=address).count() if address else 0
    return max(by_user, by_address) >= MAX_FAILURES


def forget_failures(username: str) -> None:
    LoginFailure.objects.filter(Q(username=username.lower())).delete()


class ThrottledLoginView(auth_views.LoginView):
    def post(self, request, *args, **kwargs):
        # NUL cannot be stored in PostgreSQL text; such a username never matches anyone.
        username = request.POST.get("username", "").replace("\x00", "")[:150]
        address = client_address(request)
        if is_throttled(username, address):
            form = self.get_form()
            context = self.get_context_data(form=form, throttled=True)
            return self.render_to_response(context, status=429)
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:  # the form came back: wrong credentials
            LoginFailure.objects.create(username=username.lower(), ip_address=address)
        else:
            forget_failures(username)
        return response
