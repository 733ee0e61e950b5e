"""vibegrapher.middleware: Django's middleware on the event loop for async views, same answers as before."""

import httpx
import pytest
from django.contrib.sessions.models import Session
from django.http import JsonResponse
from django.urls import path

from vibegrapher.asgi_handler import PooledASGIHandler

SECURITY_HEADERS = ("X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy")


def sync_view(request):
    return JsonResponse({"view": "sync"})


async def async_view(request):
    return JsonResponse({"view": "async"})


async def async_session_view(request):
    request.session["seen"] = True  # a change the session middleware must save (on a thread)
    return JsonResponse({"view": "session"})


def sync_attributes_view(request):
    return JsonResponse({name: hasattr(request, name) for name in ("session", "user", "_messages")})


urlpatterns = [
    path("sync", sync_view),
    path("async", async_view),
    path("admin/async-session", async_session_view),
    path("admin/attributes", sync_attributes_view),
    path("attributes", sync_attributes_view),
]


@pytest.fixture
def test_urls(settings):
    settings.ROOT_URLCONF = __name__


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=PooledASGIHandler(threads=1)), base_url="http://testserver"
    )


@pytest.mark.django_db(transaction=True)
async def test_async_views_get_the_same_middleware_headers_as_sync_views(test_urls):
    async with client() as http:
        sync = await http.get("/sync", headers={"Origin": "http://frontend.example"})
        asynchronous = await http.get("/async", headers={"Origin": "http://frontend.example"})
    for name in (*SECURITY_HEADERS, "Access-Control-Allow-Origin"):
        print(f"{name}: sync view {sync.headers.get(name)!r}, async view {asynchronous.headers.get(name)!r}")
        assert asynchronous.headers.get(name) is not None
        assert asynchronous.headers.get(name) == sync.headers.get(name)
    assert asynchronous.json() == {"view": "async"}


@pytest.mark.django_db(transaction=True)
async def test_an_async_view_that_changes_the_session_has_it_saved(test_urls):
    async with client() as http:
        response = await http.get("/admin/async-session")
    print("GET /admin/async-session ->", response.status_code, response.headers.get("set-cookie"))
    assert response.status_code == 200
    key = response.cookies["sessionid"]
    stored = await Session.objects.aget(session_key=key)
    assert stored.get_decoded() == {"seen": True}


@pytest.mark.django_db(transaction=True)
async def test_the_session_user_and_messages_middleware_act_on_the_admin_only(test_urls):
    async with client() as http:
        admin = await http.get("/admin/attributes")
        api = await http.get("/attributes", headers={"Origin": "http://frontend.example"})
    print("under /admin/:", admin.json(), "elsewhere:", api.json(), "headers:", dict(api.headers))
    assert admin.json() == {"session": True, "user": True, "_messages": True}
    assert api.json() == {"session": False, "user": False, "_messages": False}
    for name in (*SECURITY_HEADERS, "Access-Control-Allow-Origin"):
        assert api.headers.get(name) is not None
