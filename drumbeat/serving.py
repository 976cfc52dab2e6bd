"""`drumbeat serve` / `drumbeat demo`: gunicorn (gthread) serving the WSGI app, static files by
WhiteNoise, and optionally the embedded engine runner as a thread in the web worker.

Each web worker runs the tracking routes in serving mode (mailing/tracking.py): hits written in
batches by a flusher thread, lookups cached; started when the worker is ready, the last hits
written when it exits.
"""

from __future__ import annotations

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


# Open pixels and tracked links (/t/…, /r/…) are the hot public routes: they need no session,
# user, CSRF, messages, htmx, axes or static files, only the security headers. They get their
# own Django handler with just those middleware (same URLconf, same views); every other path
# goes to the full application.
TRACKING_PREFIXES = ("/t/", "/r/")
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


def with_tracking_handler(application):
    tracking = tracking_handler()

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
