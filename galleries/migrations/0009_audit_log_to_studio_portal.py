# The audit log now belongs to studio_portal.audit (its 0001 takes the model over): galleries
# forgets the model's state and leaves its table, galleries_auditlogentry, to the new owner.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('galleries', '0008_delivery_kind_pin'),
        ('audit', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='AuditLogEntry')],
            database_operations=[],
        ),
    ]
