from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A member of one studio's team; the table lives in that studio's schema.

    The public schema holds only platform staff (Django admin). Parents never have an account.
    """

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        SONOGRAPHER = "sonographer", "Sonographer"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.SONOGRAPHER)

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER
