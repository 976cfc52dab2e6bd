"""CSV import from a record list page. The upload is saved under DRUMBEAT_HOME/imports and
imported by `drumbeat.importer.import_csv` in a background thread, whose progress callback
writes the job's state file; the page polls that file with htmx (a file, so any web worker
process can answer the poll) and ends with the importer's report, bad lines included."""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import close_old_connections, connection
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from drumbeat import importer

from .access import get_kind_for_user
from .forms import ImportForm

JOB_NAME_LENGTH = 16


def _jobs_dir() -> Path:
    path = Path(settings.HOME) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_state(job: str, state: dict) -> None:
    tmp = _jobs_dir() / f"{job}.json.tmp"
    tmp.write_text(json.dumps(state))
    tmp.replace(_jobs_dir() / f"{job}.json")


def read_state(job: str) -> dict | None:
    if not job.isalnum() or len(job) > 64:
        return None
    try:
        return json.loads((_jobs_dir() / f"{job}.json").read_text())
    except (FileNotFoundError, ValueError):
        return None


def _count_rows(path: Path) -> int:
    with path.open("rb") as f:
        return max(sum(1 for line in f if line.strip()) - 1, 0)


def run_import(job: str, kind: str, path: Path, options: importer.ImportOptions, base: dict):
    """Import `path` and record the outcome in the job's state file (runs in a thread)."""
    close_old_connections()

    def on_progress(phase: str, done: int, total: int) -> None:
        share = done / total if total else 1.0
        percent = 50 * share if phase == "checking" else 50 + 50 * share
        _write_state(job, {**base, "phase": phase, "done": done, "percent": round(percent)})

    options.on_progress = on_progress
    try:
        _write_state(job, {**base, "phase": "checking", "done": 0, "percent": 0})
        report = importer.import_csv(kind, path, options)
        _write_state(
            job,
            {
                **base,
                "phase": "done",
                "summary": report.summary(),
                "error": report.error,
                "aborted": report.aborted,
                "created": report.created,
                "updated": report.updated,
                "subscribed": report.subscribed,
                "rows": report.rows,
                "problems": [asdict(p) for p in report.problems[:1000]],
                "problem_count": len(report.problems),
            },
        )
    except Exception as exc:  # the page must say so rather than poll forever
        _write_state(job, {**base, "phase": "done", "error": f"the import failed: {exc}"})
        raise
    finally:
        path.unlink(missing_ok=True)
        connection.close()


@login_required
def import_start(request: HttpRequest, kind: str) -> HttpResponse:
    kind_ = get_kind_for_user(request, kind)
    if not kind_.import_kind:
        raise Http404("These records cannot be imported.")
    form = ImportForm(request.POST or None, request.FILES or None)
    if kind_.import_kind != "mailing-contacts":
        del form.fields["list_name"]
    if kind_.import_kind in importer.BLACKLIST_KINDS:
        form.fields["update_existing"].label = "Replace the reason of entries already blacklisted"
    if request.method == "POST" and form.is_valid():
        job = secrets.token_hex(JOB_NAME_LENGTH // 2)
        path = _jobs_dir() / f"{job}.csv"
        with path.open("wb") as out:
            for chunk in form.cleaned_data["file"].chunks():
                out.write(chunk)
        options = importer.ImportOptions(
            list_name=form.cleaned_data.get("list_name") or None,
            update_existing=form.cleaned_data["update_existing"],
            all_or_nothing=form.cleaned_data["all_or_nothing"],
        )
        base = {
            "kind": kind_.slug,
            "file": form.cleaned_data["file"].name,
            "total": _count_rows(path),
            "user": request.user.pk,
        }
        _write_state(job, {**base, "phase": "queued"})
        threading.Thread(
            target=run_import, args=(job, kind_.import_kind, path, options, base), daemon=True
        ).start()
        return redirect("import_progress", kind=kind_.slug, job=job)
    columns = [
        (name.replace("_", " ").capitalize(), ", ".join(aliases[:3]))
        for name, aliases in importer.COLUMNS[kind_.import_kind].items()
    ]
    required = importer.REQUIRED[kind_.import_kind]
    return render(
        request,
        "web/records/import.html",
        {"kind": kind_, "form": form, "columns": columns, "required": required},
    )


@login_required
def import_progress(request: HttpRequest, kind: str, job: str) -> HttpResponse:
    kind_ = get_kind_for_user(request, kind)
    state = read_state(job)
    if state is None or state.get("kind") != kind_.slug or state.get("user") != request.user.pk:
        raise Http404("No such import.")
    context = {"kind": kind_, "job": job, "state": state}
    if request.htmx:
        return render(request, "web/records/_import_progress.html", context)
    return render(request, "web/records/import_progress.html", context)
