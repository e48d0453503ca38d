"""The admin, and the AMF channels as views: RPC at /amf, the chat's long-poll at /longpoll."""
from django.contrib import admin
from django.urls import path

from notes.gateway import long_poll, rpc

urlpatterns = [
    path("admin/", admin.site.urls),
    path("amf", rpc),
    path("longpoll", long_poll),
]
