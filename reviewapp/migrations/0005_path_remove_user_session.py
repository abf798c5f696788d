from django.db import migrations


class Migration(migrations.Migration):
    """Sessions are Django's signed cookies now (settings.SESSION_ENGINE): the table of
    reviewapp's own database sessions goes. Everyone signs in once more after it."""

    dependencies = [
        ("reviewapp", "0004_blind_by_construction"),
    ]

    operations = [
        migrations.DeleteModel(name="UserSession"),
    ]
