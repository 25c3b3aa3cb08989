from django.contrib import admin
from django.http import HttpResponse
from django.urls import path


def plaintext(request):  # what the harness polls until the server is up
    return HttpResponse(b"Hello, World!", content_type="text/plain")


urlpatterns = [path("admin/", admin.site.urls), path("plaintext", plaintext)]
