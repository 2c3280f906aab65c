import uuid

from django.db import migrations, models


def uids_for_existing_deliveries(apps, schema_editor):
    Delivery = apps.get_model("galleries", "Delivery")
    for delivery in Delivery.objects.filter(uid__isnull=True).only("pk"):
        Delivery.objects.filter(pk=delivery.pk).update(uid=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [
        ("galleries", "0004_outbox_stamps"),
    ]

    operations = [
        # Three steps: a unique default on existing rows would give them all the same value.
        migrations.AddField(
            model_name="delivery",
            name="uid",
            field=models.UUIDField(editable=False, null=True),
        ),
        migrations.RunPython(uids_for_existing_deliveries, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="delivery",
            name="uid",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
    ]
