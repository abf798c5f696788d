"""Bench only: the baseline for bench_review_loop.py, a minimal Django view under the same
gunicorn, settings and middleware as the app, that inserts one row into a plain table
(`bench_baseline`, created by the bench) and returns a small page.

    gunicorn -c gunicorn.conf.py --pythonpath bench baseline_app:application
    (with DJANGO_SETTINGS_MODULE=baseline_settings)

It is not part of reviewapp's URLs; it exists to say what "fast" means on this machine.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baseline_settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

from django.contrib.auth.decorators import login_required  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import HttpResponse, HttpResponseNotFound  # noqa: E402
from django.urls import path  # noqa: E402

PAGE = "<!doctype html><title>stored</title><p>Stored row {}.</p>"


def insert_one(request):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_baseline (note, created_at) VALUES (%s, now()) RETURNING id",
            [request.path],
        )
        (row_id,) = cursor.fetchone()
    return HttpResponse(PAGE.format(row_id))


@login_required
def signed_in_insert_one(request):
    """The same, for a signed-in user (session, user, the login check): what any page of
    the app costs before it does anything (bench_review_loop.py --floor)."""
    return insert_one(request)


@login_required
def data_path_next(request, review_key):
    """The review page's claim without the page (bench_review_loop.py --data-path)."""
    from reviewapp.assignment import claim_as_member

    _, claimed = claim_as_member(request.user, review_key=review_key)
    return HttpResponse(str(claimed.assignment.pk))


@login_required
def data_path_submit(request, review_key, assignment_id):
    """The review page's submit without the page: answers as the form posts them."""
    from reviewapp.judgments import Answer, submit_as_member

    def read_answers(rubric):
        return {d.pk: Answer(request.POST[f"dim-{d.position}"]) for d in rubric}

    submit_as_member(request.user, assignment_id, read_answers, review_key=review_key)
    return HttpResponse(status=302, headers={"Location": f"/data-path/{review_key}/"})


def not_found(request, exception=None):
    # The app's styled 404 page links to the app's URLs, which this URLconf does not have.
    return HttpResponseNotFound("not found")


handler404 = not_found
urlpatterns = [
    path("baseline/", insert_one),
    path("signed-in/", signed_in_insert_one),
    path("data-path/<str:review_key>/", data_path_next),
    path("data-path/<str:review_key>/<int:assignment_id>/", data_path_submit),
]
