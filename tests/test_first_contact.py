"""What a newcomer meets: the bare address, the network guard of the test suite, the first-start message."""

import socket

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_root_points_at_docs_admin_and_health(client):
    response = client.get("/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["docs"] == "/docs" and body["health"] == "/health" and body["admin"].startswith("/")


def test_connecting_outside_loopback_fails_loudly():
    with socket.socket() as sock, pytest.raises(RuntimeError, match="Network access blocked"):
        sock.connect(("192.0.2.1", 80))


@pytest.mark.django_db(transaction=True)
def test_first_start_says_it_created_the_sample_not_that_it_reset(capsys):
    call_command("seed_if_empty")
    out = capsys.readouterr().out
    assert "fresh database" in out, out


@pytest.mark.django_db
def test_docs_page_loads_swagger_ui_from_this_server_not_a_cdn(client):
    response = client.get("/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html, html
    assert "swagger-ui-bundle.js" in html, html
