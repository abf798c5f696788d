import secrets

from django.db import migrations, models

import reviewapp.models


def fill_review_keys(apps, schema_editor):
    Experiment = apps.get_model("reviewapp", "Experiment")
    for experiment in Experiment.objects.only("pk"):
        Experiment.objects.filter(pk=experiment.pk).update(review_key=secrets.token_urlsafe(9))


class Migration(migrations.Migration):
    dependencies = [
        ("reviewapp", "0003_user_session"),
    ]

    operations = [
        migrations.AddField(
            model_name="experiment",
            name="reviewer_title",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="experiment",
            name="render_mode",
            field=models.CharField(
                choices=[
                    ("markdown", "Markdown (GitHub-style, line breaks kept)"),
                    ("plain", "Plain text (shown as written)"),
                ],
                default="markdown",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="experiment",
            name="review_key",
            field=models.CharField(max_length=20, null=True),
        ),
        migrations.RunPython(fill_review_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="experiment",
            name="review_key",
            field=models.CharField(
                default=reviewapp.models.new_review_key, max_length=20, unique=True
            ),
        ),
        migrations.AddConstraint(
            model_name="experiment",
            constraint=models.CheckConstraint(
                condition=models.Q(("render_mode__in", ["markdown", "plain"])),
                name="experiment_render_mode_valid",
            ),
        ),
        migrations.AddField(
            model_name="pair",
            name="leak_flags",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="pair",
            name="excluded",
            field=models.BooleanField(default=False),
        ),
    ]
