"""`drumbeat serve` / `drumbeat demo`: gunicorn (gthread) serving the WSGI app, static files by
WhiteNoise, and optionally the embedded engine runner as a thread in the web worker."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from drumbeat.wsgi import application

        return application


def _start_runner(worker) -> None:
    from drumbeat.automation.engine.runner import start_background_runner

    start_background_runner()


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
        "errorlog": "-",
        "loglevel": "warning",
    }
    if with_worker:
        if workers != 1:
            raise SystemExit(
                "--with-worker runs the embedded worker in one web process: use --workers 1"
            )
        options["post_worker_init"] = _start_runner
    _Gunicorn(options).run()
