"""Models of the Django tests: every kind of relation a DjangoClassDef sends."""
import uuid

from django.conf import settings
from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)
    born = models.DateField(null=True, blank=True)


class Tag(models.Model):
    label = models.CharField(max_length=30, unique=True)


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    tags = models.ManyToManyField(Tag, blank=True)
    price = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    ref = models.UUIDField(default=uuid.uuid4)
    published = models.DateTimeField(null=True, blank=True)
    secret = models.CharField(max_length=20, blank=True, default="")

    @property
    def shout(self):
        return self.title.upper()


class Cover(models.Model):
    book = models.OneToOneField(Book, on_delete=models.CASCADE, related_name="cover")
    color = models.CharField(max_length=20)


class Loan(models.Model):
    """A relation to a model of another app (``auth.User``)."""

    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="loans")
    borrower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
