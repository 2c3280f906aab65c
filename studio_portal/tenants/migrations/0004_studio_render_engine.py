from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_studio_contact"),
    ]

    operations = [
        migrations.AddField(
            model_name="studio",
            name="render_engine",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
    ]
