"""The `drumbeat` command: `drumbeat --help` lists the subcommands (README documents each)."""

from __future__ import annotations

import argparse
import os
import sys


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drumbeat.settings")
    import django

    django.setup()


def _migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _parse_bind(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def cmd_serve(args: argparse.Namespace) -> int:
    _setup_django()
    if args.with_worker and _refuse_with_broker("drumbeat serve --with-worker"):
        return 2
    from drumbeat.web.serving import serve

    _migrate()
    serve(args.bind, with_worker=args.with_worker, workers=args.workers)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    _setup_django()
    from django.conf import settings

    from drumbeat.demo import seed
    from drumbeat.web.serving import serve

    print(f"Drumbeat data folder: {settings.HOME}")
    _migrate()
    login = seed(progress=True)
    host, port = args.bind
    print()
    print(f"  Drumbeat is running at http://{host}:{port}/")
    print(f"  Log in as  {login.username}  /  {login.password}")
    print()
    serve(args.bind, with_worker=True, workers=1)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    _setup_django()
    from drumbeat.importer import ImportOptions, import_csv

    _migrate()
    options = ImportOptions(
        list_name=args.list,
        update_existing=args.update_existing,
        all_or_nothing=args.all_or_nothing,
        progress=not args.quiet,
    )
    report = import_csv(args.kind, args.file, options)
    print(report.summary())
    for problem in report.problems:
        print(f"  line {problem.line}: {problem.reason}", file=sys.stderr)
    return 0 if report.ok else 1


def cmd_token(args: argparse.Namespace) -> int:
    _setup_django()
    from drumbeat.accounts.models import ApiToken, User

    _migrate()  # a fresh DRUMBEAT_HOME has no tables yet
    try:
        user = User.objects.get(username=args.username)
    except User.DoesNotExist:
        print(f"No user named {args.username!r}.", file=sys.stderr)
        return 1
    _, raw = ApiToken.issue(user, args.name)
    print(raw)
    return 0


def cmd_inbound_smtp(args: argparse.Namespace) -> int:
    _setup_django()
    from drumbeat.mailing.inbound import serve_inbound

    _migrate()
    host, port = args.bind
    serve_inbound(host, port)
    return 0


def _refuse_with_broker(command: str) -> bool:
    """With DRUMBEAT_BROKER_URL set, campaigns run on Celery workers: say what to run instead."""
    from django.conf import settings

    if not settings.BROKER_URL:
        return False
    print(
        f"DRUMBEAT_BROKER_URL is set, so campaigns run on Celery workers, not in `{command}`.\n"
        "Run instead (see README, Running at scale):\n"
        "  celery -A drumbeat worker   # any number, on any machine\n"
        "  celery -A drumbeat beat     # exactly one: the clock\n"
        "or unset DRUMBEAT_BROKER_URL to use the embedded runner.",
        file=sys.stderr,
    )
    return True


def cmd_worker(args: argparse.Namespace) -> int:
    """The embedded runner in the foreground until SIGTERM/SIGINT (clean stop between batches)."""
    _setup_django()
    if _refuse_with_broker("drumbeat worker"):
        return 2
    import logging
    import signal
    import threading

    from drumbeat.automation.engine.runner import run_forever
    from drumbeat.automation.engine.wakeup import wake

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    _migrate()
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()
        wake()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    print("Drumbeat worker running (embedded runner); stop with Ctrl-C or SIGTERM.", flush=True)
    run_forever(stop)
    print("Drumbeat worker stopped.", flush=True)
    return 0


def cmd_tick(args: argparse.Namespace) -> int:
    """One full pass of the engine (enrol, execute everything due, expire, recover), then exit."""
    _setup_django()
    import time

    from drumbeat.automation.engine.runner import run_once

    _migrate()
    started = time.monotonic()
    result = run_once()
    if not args.quiet:
        print(f"tick: {result} in {time.monotonic() - started:.2f}s")
    return 0


def cmd_manage(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drumbeat.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["drumbeat manage", *args.rest])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drumbeat", description="Drumbeat marketing automation")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="migrate, seed demo data and serve with the embedded worker")
    p.add_argument("--bind", type=_parse_bind, default=("127.0.0.1", 8000), metavar="HOST:PORT")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("serve", help="serve the web UI and API (production WSGI server)")
    p.add_argument("--bind", type=_parse_bind, default=("127.0.0.1", 8000), metavar="HOST:PORT")
    p.add_argument("--with-worker", action="store_true", help="run the embedded worker too")
    p.add_argument("--workers", type=int, default=None, help="web worker processes")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("import", help="import records from a CSV file")
    p.add_argument(
        "kind",
        choices=[
            "contacts",
            "leads",
            "registrations",
            "mailing-contacts",
            "blacklist-emails",
            "blacklist-phones",
        ],
    )
    p.add_argument("file")
    p.add_argument("--list", help="subscribe imported mailing contacts to this list")
    p.add_argument(
        "--update-existing",
        action="store_true",
        help="update records with the same email (blacklists: replace the reason)",
    )
    p.add_argument("--all-or-nothing", action="store_true", help="import nothing if any row is bad")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("token", help="API tokens")
    token_sub = p.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    t = token_sub.add_parser("create", help="create an API token for a user and print it")
    t.add_argument("username")
    t.add_argument("--name", default="CLI token")
    t.set_defaults(func=cmd_token)

    p = sub.add_parser("inbound-smtp", help="receive bounces and replies over SMTP")
    p.add_argument("--bind", type=_parse_bind, default=("127.0.0.1", 2525), metavar="HOST:PORT")
    p.set_defaults(func=cmd_inbound_smtp)

    p = sub.add_parser("worker", help="run the embedded campaign runner until stopped")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("tick", help="run one full pass of the campaign engine, then exit")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    p.set_defaults(func=cmd_tick)

    p = sub.add_parser("manage", help="run any Django management command", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_manage)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
