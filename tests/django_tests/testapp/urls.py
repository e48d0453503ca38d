from django.urls import path

from tests.django_tests.testapp.gateway import long_poll, rpc, stream

urlpatterns = [path("amf", rpc), path("poll", long_poll), path("stream", stream)]
