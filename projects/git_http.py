"""Read-only git over smart HTTP (`git clone <base>/git/<slug>.git`, `git fetch`, protocol v0 and v2),
served by git's own `git http-backend` run as a CGI subprocess: the protocol stays git's, not ours.
Pushes are refused before the backend runs. With VIBEGRAPHER_API_TOKEN set, git must send it as the
HTTP basic password (any user name) or as `Authorization: Bearer <token>`."""

import base64
import binascii
import subprocess

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from projects import repository
from projects.models import Project
from vibegrapher.access import token_required, token_valid

BACKEND_TIMEOUT_SECONDS = 120
_PUSH_SERVICE = "git-receive-pack"
_READ_ONLY = "This repository is read-only over HTTP: change the workflow through the Vibegrapher API."


def _token_from(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            _user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password
    return None


def _cgi_response(output: bytes) -> HttpResponse:
    head, _, body = output.partition(b"\r\n\r\n")
    response = HttpResponse(body)
    response.status_code = 200
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "status":
            response.status_code = int(value.split()[0])
        elif name:
            response[name.strip()] = value.strip()
    return response


@csrf_exempt
def git_http(request: HttpRequest, slug: str, rest: str) -> HttpResponse:
    """A sync view: Django runs it in a worker thread, so the backend never blocks the event loop."""
    if token_required() and not token_valid(_token_from(request)):
        response = JsonResponse({"detail": "Git over HTTP needs the API token as the basic password."}, status=401)
        response["WWW-Authenticate"] = 'Basic realm="vibegrapher"'
        return response
    if _PUSH_SERVICE in rest or request.GET.get("service") == _PUSH_SERVICE:
        return HttpResponse(_READ_ONLY + "\n", status=403, content_type="text/plain; charset=utf-8")
    if request.method not in ("GET", "POST"):
        return JsonResponse({"detail": "Git over HTTP answers GET and POST only."}, status=405)
    if not Project.objects.filter(slug=slug).exists():
        return JsonResponse({"detail": f"No project has the slug {slug!r}."}, status=404)
    environment = {
        "GIT_PROJECT_ROOT": str(repository.repository_path(slug=slug)),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": "/" + rest,
        "QUERY_STRING": request.META.get("QUERY_STRING", ""),
        "REQUEST_METHOD": request.method,
        "CONTENT_TYPE": request.META.get("CONTENT_TYPE", ""),
        "GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    if request.headers.get("Content-Encoding"):
        environment["HTTP_CONTENT_ENCODING"] = request.headers["Content-Encoding"]
    result = subprocess.run(
        ["git", "http-backend"],
        input=request.body if request.method == "POST" else b"",
        env=environment,
        capture_output=True,
        timeout=BACKEND_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0 and not result.stdout:
        detail = result.stderr.decode(errors="replace").strip() or f"git http-backend exited {result.returncode}"
        return JsonResponse({"detail": f"git http-backend failed: {detail}"}, status=500)
    return _cgi_response(result.stdout)
