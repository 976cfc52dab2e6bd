"""`drumbeat serve` / `drumbeat demo`: gunicorn (gthread) serving the WSGI app, static files by
WhiteNoise, and optionally the embedded engine runner as a thread in the web worker.

Each web worker runs the tracking routes in serving mode (mailing/tracking.py): hits written in
batches by a flusher thread, lookups cached; started when the worker is ready, the last hits
written when it exits.
"""

from __future__ import annotations

import functools
import re
import time

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from django.urls import get_resolver

        from drumbeat.wsgi import application

        # Import the URLconf (and the API schemas it builds) now, before the worker accepts
        # connections, rather than during its first request: seconds of CPU otherwise.
        get_resolver().url_patterns  # noqa: B018
        return with_tracking_handler(application)


# Open pixels and tracked links (/t/…, /r/…, SMS /s/…) are the hot public routes: they need no
# session, user, CSRF, messages, htmx, axes or static files, only the security headers. They
# get their own Django handler with just those middleware (same URLconf, same views); every
# other path goes to the full application.
TRACKING_PREFIXES = ("/t/", "/r/", "/s/")
TRACKING_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "drumbeat.lib.security.ContentSecurityPolicyMiddleware",
    "drumbeat.lib.security.RefuseNulMiddleware",
]


def tracking_handler():
    """A WSGI handler running only TRACKING_MIDDLEWARE (those of them that are configured)."""
    from django.core.handlers.exception import convert_exception_to_response
    from django.core.handlers.wsgi import WSGIHandler
    from django.utils.module_loading import import_string

    paths = tracking_middleware()

    class TrackingHandler(WSGIHandler):
        def load_middleware(self, is_async: bool = False) -> None:
            # Django's chain building for a short list of synchronous middleware classes
            # (none of them has view, template-response or exception hooks).
            self._view_middleware = []
            self._template_response_middleware = []
            self._exception_middleware = []
            handler = convert_exception_to_response(self._get_response)
            for path in reversed(paths):
                handler = convert_exception_to_response(import_string(path)(handler))
            self._middleware_chain = handler

    return TrackingHandler()


def tracking_middleware() -> list[str]:
    from django.conf import settings

    return [m for m in TRACKING_MIDDLEWARE if m in settings.MIDDLEWARE]


# /t/o/<token>, /r/<code>/<token>, /r/<code>, /s/<code>: the routes of mailing/urls.py.
TRACKING_ROUTE = re.compile(
    r"/t/o/(?P<token>[^/]+)|/r/(?P<code>[^/]+)(?:/(?P<by>[^/]+))?|/s/(?P<short>[^/]+)"
)


class TrackingFastPath:
    """Answers the tracking requests that succeed (a pixel served, a redirect) without Django's
    request cycle (signals, URL resolving, middleware, decorators, response objects): in a web
    worker, that cycle cost more CPU than everything else such a request does.

    The answer is the views' own: the same tracking functions record the hit, and the headers
    are those the views' responses get from `never_cache` and TRACKING_MIDDLEWARE, worked out
    once here for HTTP and for HTTPS (only Expires and Location change per request). Anything
    else (a forged or unknown token or link, another method, a query string, a path that is
    not plain ASCII, an error, a middleware that would answer itself such as an SSL redirect)
    goes to `fallback`, the lean Django handler, which answers it exactly as before.
    """

    def __init__(self, fallback) -> None:
        from drumbeat.mailing import views

        self.fallback = fallback
        self.views = views
        self.pixel = {
            secure: _answer_headers(views.pixel_response(), "/t/o/-", secure)
            for secure in (False, True)
        }
        self.redirect = {
            secure: _answer_headers(views.redirect_response("/"), "/r/-/-", secure)
            for secure in (False, True)
        }

    def __call__(self, environ, start_response):
        try:
            answer = self.answer(environ)
        except Exception:  # Django's handler answers errors (500 page, django.request log)
            answer = None
        if answer is None:
            return self.fallback(environ, start_response)
        status, headers, body = answer
        start_response(status, headers)
        return [body]

    def answer(self, environ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """Record the hit and return the answer; None (nothing recorded) for Django's handler."""
        path = environ.get("PATH_INFO", "")
        route = TRACKING_ROUTE.fullmatch(path)
        if (
            route is None
            or environ.get("REQUEST_METHOD") not in ("GET", "HEAD")
            or environ.get("QUERY_STRING")
            or not path.isascii()
        ):
            return None
        request = LeanRequest(environ)
        secure = request.is_secure()
        if route["token"] is not None:
            headers = self.pixel[secure]
            if headers is None or not self.views.track_open(request, route["token"]):
                return None
            status, body, location = "200 OK", self.views.PIXEL, None
        else:
            headers = self.redirect[secure]
            if headers is None:
                url = None
            elif route["short"] is not None:
                url = self.views.track_short_click(request, route["short"])
            else:
                url = self.views.track_click(request, *route.group("code", "by"))
            if url is None:
                return None
            status, body, location = "302 Found", b"", _location(url)
        now = _http_now()
        return (
            status,
            [
                (name, now if name == "Expires" else location if name == "Location" else value)
                for name, value in headers
            ],
            body,
        )


class LeanRequest:
    """What the tracking views read of a request (method, META, is_secure), straight from the
    WSGI environ: building a Django WSGIRequest cost a quarter of the request thread's work.
    The scheme is Django's own property (SECURE_PROXY_SSL_HEADER, then the WSGI scheme)."""

    __slots__ = ("META", "method")

    def __init__(self, environ: dict) -> None:
        self.META = environ
        self.method = environ.get("REQUEST_METHOD", "GET").upper()

    def _get_scheme(self) -> str:
        return self.META.get("wsgi.url_scheme", "http")

    @property
    def scheme(self) -> str:
        from django.http import HttpRequest

        return HttpRequest.scheme.fget(self)  # type: ignore[attr-defined]

    def is_secure(self) -> bool:
        return self.scheme == "https"


def _answer_headers(response, path: str, secure: bool) -> list[tuple[str, str]] | None:
    """The headers `response` leaves with as the answer to a GET of `path`: the view's
    `never_cache`, then TRACKING_MIDDLEWARE, run here on a request made up for it. None when a
    middleware answers in the view's stead (an SSL redirect)."""
    import io

    from django.core.handlers.wsgi import WSGIRequest
    from django.utils.cache import add_never_cache_headers
    from django.utils.module_loading import import_string

    add_never_cache_headers(response)

    def chain(request):
        return response

    for middleware in reversed(tracking_middleware()):
        chain = import_string(middleware)(chain)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "443" if secure else "80",
        "wsgi.url_scheme": "https" if secure else "http",
        "wsgi.input": io.BytesIO(),
    }
    try:
        answer = chain(WSGIRequest(environ))
    except Exception:
        return None
    if answer is not response or response.cookies:
        return None
    return list(response.items())


_date: tuple[int, str] = (0, "")


def _http_now() -> str:
    """django.utils.http.http_date() (whole seconds), formatted once a second."""
    global _date
    second = int(time.time())
    if _date[0] != second:
        from django.utils.http import http_date

        _date = (second, http_date(second))
    return _date[1]


@functools.lru_cache(maxsize=4096)
def _location(url: str) -> str:
    """The Location header of Django's redirect to `url` (a link's URL: one it accepts)."""
    from django.http import HttpResponseRedirect

    return HttpResponseRedirect(url)["Location"]


def with_tracking_handler(application, fast: bool = True):
    """The WSGI application of `drumbeat serve`: tracking paths to `TrackingFastPath` (`fast`)
    or the lean Django handler, every other path to `application`."""
    tracking = tracking_handler()
    if fast:
        tracking = TrackingFastPath(tracking)

    def dispatch(environ, start_response):
        if environ.get("PATH_INFO", "").startswith(TRACKING_PREFIXES):
            return tracking(environ, start_response)
        return application(environ, start_response)

    return dispatch


class AccessLogger(Logger):
    """gunicorn's logger, except that the access log leaves out the tracking requests it
    answered (status below 400): the database records each of them (opened_at, clicked_at,
    Click rows), and writing the line cost about a quarter of such a request's CPU. Refused or
    failed tracking requests are logged like any other."""

    def access(self, resp, req, environ, request_time) -> None:
        tracked = environ.get("PATH_INFO", "").startswith(TRACKING_PREFIXES)
        if tracked and resp.status_code is not None and resp.status_code < 400:
            return
        super().access(resp, req, environ, request_time)


def _start_tracking(worker) -> None:
    from drumbeat.mailing import tracking

    tracking.start()
    _freeze_loaded_objects()


def _freeze_loaded_objects() -> None:
    """Move what the worker loaded (Django, the URLconf, the API schemas: some 100,000
    objects that live as long as the process) out of the garbage collector's sight: each
    full collection walked them all, a pause of tens of milliseconds for every thread."""
    import gc

    gc.collect()
    gc.freeze()


def _start_runner(worker) -> None:
    from drumbeat.automation.engine.runner import start_background_runner

    _start_tracking(worker)
    start_background_runner()


def _stop_tracking(server, worker) -> None:
    """gunicorn's worker_exit (graceful stop, SIGINT/SIGQUIT too): write the pending hits."""
    from drumbeat.mailing import tracking

    tracking.stop()


def serve(bind: tuple[str, int], with_worker: bool = False, workers: int | None = None) -> None:
    """Serve until interrupted. With the embedded worker, one web process runs it as a thread
    (so wake-ups from tracking requests reach it in-process)."""
    from django.conf import settings

    host, port = bind
    if workers is None:
        workers = 1 if (with_worker or not settings.IS_POSTGRES) else 2
    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 8,
        "timeout": 120,
        "graceful_timeout": 10,
        "accesslog": "-",
        "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',
        "logger_class": AccessLogger,
        "errorlog": "-",
        "loglevel": "warning",
        "post_worker_init": _start_tracking,
        "worker_exit": _stop_tracking,
    }
    if with_worker:
        if workers != 1:
            raise SystemExit(
                "--with-worker runs the embedded worker in one web process: use --workers 1"
            )
        options["post_worker_init"] = _start_runner
    _Gunicorn(options).run()
