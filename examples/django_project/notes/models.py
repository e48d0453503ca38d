from django.conf import settings
from django.db import models


class Note(models.Model):
    """A note a user wrote; Flex clients load and save them through NoteService."""

    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                               related_name="notes")
    updated = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.title
