#!/usr/bin/env python3
"""The REST API journey, end to end, against a running Drumbeat.

    drumbeat token create admin            # prints a token
    python docs/api_journey.py --base-url http://127.0.0.1:8000 --token dbt_…

(or set DRUMBEAT_BASE_URL and DRUMBEAT_TOKEN). It creates three contacts, instantiates the
"Tag Hot Contacts" campaign template restricted to them, launches a test on the first contact,
runs its first step (the welcome email goes to the outbox), simulates a click, starts the
campaign and reads its metrics. Every run uses fresh addresses, so it can be repeated.
Only the standard library is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, method: str, path: str, detail: Any) -> None:
        super().__init__(f"{method} {path} -> {status}: {detail}")
        self.status = status


class Api:
    def __init__(self, base_url: str, token: str) -> None:
        self.base = base_url.rstrip("/") + "/api/v1/"
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                detail = json.loads(text).get("detail", text)
            except ValueError:
                detail = text
            raise ApiError(exc.code, method, path, detail) from None
        return json.loads(raw) if raw else None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, {} if body is None else body)

    def patch(self, path: str, body: Any) -> Any:
        return self.call("PATCH", path, body)


def step(text: str) -> None:
    print(f"\n== {text}")


def journey(api: Api, out=print) -> dict[str, Any]:
    """Run the journey; returns what it created (ids), for callers that check the result."""
    me = api.get("me")
    out(f"Calling as {me['username']} ({me['role']})")
    run = f"journey-{int(time.time() * 1000)}"

    step("Create three contacts")
    contacts = [
        api.post(
            "contacts",
            {"name": name, "email": f"{run}-{name.lower()}@example.com", "tags": ["API journey"]},
        )
        for name in ("Ada", "Grace", "Linus")
    ]
    for contact in contacts:
        out(f"  contact #{contact['id']}: {contact['name']} <{contact['email']}>")

    step("Instantiate the 'Tag Hot Contacts' campaign template")
    templates = {t["key"]: t for t in api.get("campaign-templates")}
    out(f"  available: {', '.join(templates)}")
    campaign = api.post("campaign-templates/tag_hot_contacts", {"name": f"Hot contacts {run}"})
    # Keep the campaign to this run's contacts (the template's filter AND ours).
    domain = [*campaign["domain"], ["email", "ilike", run]]
    campaign = api.patch(f"campaigns/{campaign['id']}", {"domain": domain})
    count = api.post("targets/contacts.contact/count", {"domain": domain})["count"]
    out(f"  campaign #{campaign['id']} '{campaign['name']}' ({campaign['state']}), {count} match")
    activities = api.get(f"activities?campaign={campaign['id']}&ordering=id")["items"]
    for activity in activities:
        out(f"  activity #{activity['id']}: {activity['name']} ({activity['trigger']})")

    step(f"Launch a test on {contacts[0]['name']}")
    participant = api.post(f"campaigns/{campaign['id']}/tests", {"record_id": contacts[0]["id"]})
    traces = api.get(f"traces?participant={participant['id']}")["items"]
    out(f"  test participant #{participant['id']} with {len(traces)} scheduled trace(s)")

    step("Run its first step now")
    trace = api.post(f"traces/{traces[0]['id']}/run")
    out(f"  trace #{trace['id']}: {trace['state']} {trace['reason']}".rstrip())
    waiting = api.get(f"traces?participant={participant['id']}&state=scheduled")["items"]
    out(f"  {len(waiting)} child trace(s) now wait for an open/click/bounce")
    try:
        api.post(f"traces/{trace['id']}/simulate", {"event": "click"})
        out("  simulated a click: the 'clicked' child is now dated")
    except ApiError as exc:
        out(f"  (no click simulated: {exc})")

    step("Start the campaign")
    campaign = api.post(f"campaigns/{campaign['id']}/start")
    participants = api.get(f"participants?campaign={campaign['id']}&is_test=false")
    out(
        f"  {campaign['state']}: {participants['count']} participant(s) enrolled at once "
        f"({contacts[0]['name']} already takes part as a test)"
    )

    step("Read the metrics")
    metrics = api.get(f"campaigns/{campaign['id']}/metrics")
    figures = metrics["figures"]
    out(
        f"  participants {figures['participants']} (running {figures['running']}, "
        f"completed {figures['completed']}), tests {figures['tests']}, clicks {figures['clicks']}"
    )
    for activity in metrics["activities"]:
        out(
            f"  {activity['name']}: processed {activity['processed']}, "
            f"rejected {activity['rejected']}, sent {activity['sent']}"
        )
    return {
        "contacts": [c["id"] for c in contacts],
        "campaign": campaign["id"],
        "participant": participant["id"],
        "trace": trace["id"],
        "metrics": metrics,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--base-url", default=os.environ.get("DRUMBEAT_BASE_URL", "http://127.0.0.1:8000")
    )
    parser.add_argument("--token", default=os.environ.get("DRUMBEAT_TOKEN"))
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give --token or set DRUMBEAT_TOKEN (drumbeat token create USERNAME)")
    try:
        journey(Api(args.base_url, args.token))
    except ApiError as exc:
        print(f"\nThe API refused: {exc}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"\nCannot reach {args.base_url}: {exc.reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
