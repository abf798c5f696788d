from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce


def count_claims(apps, schema_editor):
    Assignment = apps.get_model("reviewapp", "Assignment")
    Membership = apps.get_model("reviewapp", "Membership")
    had = (
        Assignment.objects.filter(experiment=OuterRef("experiment"), reviewer=OuterRef("user"))
        .order_by()
        .values("experiment")
        .annotate(n=Count("pk"))
        .values("n")
    )
    Membership.objects.update(claims=Coalesce(Subquery(had), 0))


class Migration(migrations.Migration):
    dependencies = [
        ("reviewapp", "0009_leaks_pair_leak_kept"),
    ]

    operations = [
        migrations.AddField(
            model_name="membership",
            name="claims",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(count_claims, migrations.RunPython.noop),
    ]
