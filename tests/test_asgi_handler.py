"""vibegrapher.asgi_handler: sync views on a few long-lived threads, async views on Django's own path."""

import asyncio
import threading

import httpx
import pytest
from django.db.backends.signals import connection_created
from django.http import JsonResponse
from django.urls import path

from vibegrapher import asgi_handler
from vibegrapher.asgi_handler import PooledASGIHandler

release = threading.Event()
seen_threads: list[str] = []


def blocking_view(request):
    seen_threads.append(threading.current_thread().name)
    release.wait(10)
    return JsonResponse({"view": "blocking"})


def quick_view(request):
    seen_threads.append(threading.current_thread().name)
    return JsonResponse({"view": "quick"})


def failing_view(request):
    raise RuntimeError("broken on purpose")


async def async_view(request):
    seen_threads.append(threading.current_thread().name)
    return JsonResponse({"view": "async"})


urlpatterns = [
    path("blocking", blocking_view),
    path("quick", quick_view),
    path("failing", failing_view),
    path("async", async_view),
]
handler500 = "vibegrapher.errors.json_server_error"


@pytest.fixture
def test_urls(settings):
    settings.ROOT_URLCONF = __name__
    seen_threads.clear()
    release.clear()
    yield
    release.set()


def client(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=handler), base_url="http://testserver")


async def test_sync_views_run_on_pool_threads_and_async_views_on_the_event_loop(test_urls):
    main = threading.current_thread().name
    async with client(PooledASGIHandler(threads=2)) as http:
        assert (await http.get("/quick")).json() == {"view": "quick"}
        assert (await http.get("/async")).json() == {"view": "async"}
    print("threads that ran the views:", seen_threads)
    assert seen_threads[0].startswith("http")
    assert seen_threads[1] == main


async def test_an_exception_in_a_sync_view_is_the_json_500(test_urls):
    async with client(PooledASGIHandler(threads=1)) as http:
        response = await http.get("/failing")
    print("GET /failing ->", response.status_code, response.text)
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error; it has been logged."}


async def test_requests_wait_for_a_busy_pool_then_spill_over_when_it_is_stuck(test_urls, monkeypatch):
    monkeypatch.setattr(asgi_handler, "STALL_S", 0.3)
    async with client(PooledASGIHandler(threads=1)) as http:
        blocked = asyncio.ensure_future(http.get("/blocking"))
        while not seen_threads:
            await asyncio.sleep(0.01)
        started = asyncio.get_running_loop().time()
        queued = asyncio.ensure_future(http.get("/quick"))  # the one pool thread is busy: this one waits
        await asyncio.sleep(0.1)
        assert not queued.done()
        await asyncio.sleep(0.3)
        spilled = await asyncio.wait_for(http.get("/quick"), 5)  # nothing finished for STALL_S: Django's own path
        waited = asyncio.get_running_loop().time() - started
        print(
            f"spilled-over request answered {spilled.status_code} after {waited:.2f} s; blocker done: {blocked.done()}"
        )
        assert spilled.json() == {"view": "quick"}
        assert not blocked.done() and not queued.done()
        release.set()
        assert (await blocked).json() == {"view": "blocking"}
        assert (await queued).json() == {"view": "quick"}
    print("threads:", seen_threads)
    assert seen_threads[0].startswith("http") and seen_threads[2].startswith("http")
    assert not seen_threads[1].startswith("http")


@pytest.mark.django_db(transaction=True)
async def test_database_connections_are_kept_between_requests(api, settings):
    if not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("pool threads keep SQLite connections; PostgreSQL connections go back to their pool")
    created = []

    def count(sender, connection, **kwargs):
        created.append(threading.current_thread().name)

    for _ in range(3):  # start every pool thread and let it open its connection
        await asyncio.gather(*(api.get("/projects") for _ in range(5 * settings.WEB_THREADS)))
    connection_created.connect(count)
    try:
        for _ in range(30):
            assert (await api.get("/projects")).status_code == 200
        await asyncio.gather(*(api.get("/health") for _ in range(20)))
    finally:
        connection_created.disconnect(count)
    print("database connections opened during 50 requests:", len(created), created)
    assert created == []
