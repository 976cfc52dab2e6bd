"""Demo data for `drumbeat demo`: a realistic, deterministic, idempotent data set.

`seed()` runs `STEPS` in order. Each step draws from its own fixed-seed random generator and
first checks whether its records already exist, so a second run adds nothing and a step's
output does not depend on which other steps ran. The steps make the data as it stood `DAYS`
days ago (contacts and leads are older than that); then `drumbeat.demo.campaigns` replays those
days with the engine, outside the transaction: campaigns run while new contacts and leads arrive
and contacts are tagged, through the apps' services.

The administrator login is `admin` with a password generated once into
DRUMBEAT_HOME/demo-login.txt (mode 600); `seed()` returns it so it can be printed every time.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import phonenumbers
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from drumbeat.accounts.models import User
from drumbeat.contacts.models import Contact, Tag
from drumbeat.crm.models import Lead
from drumbeat.crm.services import ensure_default_stages
from drumbeat.events.models import Event, Registration
from drumbeat.mailing.models import (
    EmailBlacklist,
    MailingContact,
    MailingList,
    PhoneBlacklist,
    Subscription,
)

ADMIN_USERNAME = "admin"
LOGIN_FILE = "demo-login.txt"
CONTACTS, LEADS, REGISTRATIONS, MAILING_CONTACTS = 2000, 500, 300, 1500
DAYS = 15  # the days demo.campaigns replays (today included)
TAGS = ["VIP", "Newsletter", "Partner", "Prospect", "Customer"]
SALESPEOPLE = [
    ("sofia", "Sofia", "Martens", "sofia.martens@drumbeat.example"),
    ("james", "James", "O'Connor", "james.oconnor@drumbeat.example"),
    ("lena", "Lena", "Fischer", "lena.fischer@drumbeat.example"),
]


@dataclass(frozen=True)
class Login:
    username: str
    password: str


@dataclass
class DemoContext:
    now: dt.datetime
    progress: bool

    def rng(self, step: str) -> random.Random:
        """A generator of its own per step, so each step is reproducible on its own."""
        return random.Random(f"drumbeat-demo:{step}")

    def say(self, text: str) -> None:
        if self.progress:
            print(f"  demo: {text}", flush=True)


# --- the people of the demo --------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


def _items(text: str) -> list[str]:
    return text.split(",")


PEOPLE: dict[str, dict[str, list[str]]] = {
    "BE": {
        "first": _words(
            "Lucas Emma Louis Olivia Noah Louise Arthur Mila Jules Elena Victor "
            "Lina Adam Marie Finn Julie Wout Lotte Thomas Sarah"
        ),
        "last": _words(
            "Peeters Janssens Maes Jacobs Mertens Willems Claes Goossens Wouters "
            "Dubois Lambert Dupont Martens Leclercq Hermans"
        ),
        "city": _words("Brussels Antwerp Ghent Liège Leuven Namur Bruges Mechelen"),
    },
    "FR": {
        "first": _words(
            "Gabriel Jade Raphaël Louise Léo Ambre Hugo Alice Arthur Chloé Paul "
            "Inès Jules Léa Adam Manon"
        ),
        "last": _words(
            "Martin Bernard Thomas Petit Robert Richard Durand Moreau Laurent Simon "
            "Michel Lefebvre Leroy Roux Fournier"
        ),
        "city": _words("Paris Lyon Marseille Lille Toulouse Nantes Bordeaux Strasbourg"),
    },
    "DE": {
        "first": _words(
            "Noah Emilia Matteo Sophia Elias Emma Finn Hannah Leon Mia Paul Lina "
            "Ben Mila Felix Clara"
        ),
        "last": _words(
            "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz "
            "Hoffmann Koch Richter Klein Wolf"
        ),
        "city": _words("Berlin Hamburg Munich Cologne Frankfurt Stuttgart Leipzig Dresden"),
    },
    "NL": {
        "first": _words("Daan Julia Sem Mila Lucas Tess Levi Sara Finn Nora Milan Zoë Bram Eva"),
        "last": _items(
            "de Jong,Jansen,de Vries,van den Berg,van Dijk,Bakker,Visser,Smit,Meijer,Mulder,Bos,Vos"
        ),
        "city": _words("Amsterdam Rotterdam Utrecht Eindhoven Groningen Leiden"),
    },
    "GB": {
        "first": _words(
            "Oliver Olivia George Amelia Arthur Isla Noah Ava Leo Ivy Oscar Freya "
            "Harry Lily Jack Grace"
        ),
        "last": _words(
            "Smith Jones Taylor Brown Williams Wilson Johnson Davies Patel Wright "
            "Evans Walker Roberts Thompson"
        ),
        "city": _words("London Manchester Birmingham Leeds Bristol Edinburgh Glasgow Cardiff"),
    },
    "US": {
        "first": _words(
            "Liam Olivia Noah Emma Oliver Charlotte James Amelia Elijah Sophia "
            "Mateo Mia Henry Harper Lucas Evelyn"
        ),
        "last": _words(
            "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez "
            "Martinez Wilson Anderson Taylor Moore"
        ),
        "city": _items("New York,Chicago,Austin,Seattle,Boston,Denver,San Francisco,Atlanta"),
    },
    "ES": {
        "first": _words("Hugo Lucía Martín Sofía Mateo Martina Leo María Pablo Julia Álvaro Paula"),
        "last": _words(
            "García Rodríguez González Fernández López Martínez Sánchez Pérez Gómez "
            "Martín Ruiz Díaz"
        ),
        "city": _words("Madrid Barcelona Valencia Seville Bilbao Málaga Zaragoza"),
    },
    "IT": {
        "first": _words(
            "Leonardo Sofia Francesco Aurora Alessandro Giulia Lorenzo Ginevra "
            "Mattia Vittoria Tommaso Beatrice"
        ),
        "last": _words(
            "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo"
        ),
        "city": _words("Rome Milan Naples Turin Bologna Florence Verona Genoa"),
    },
}
COUNTRY_WEIGHTS = {"BE": 22, "FR": 16, "DE": 14, "NL": 10, "GB": 12, "US": 14, "ES": 6, "IT": 6}
COMPANY_WORDS = (
    _words(
        "Nord Blue Atlas Helix Pioneer Summit Orchid Vertex Lumen Cedar Harbor "
        "Quartz Falcon Maple Iris Nimbus Copper Delta Sable Juniper"
    ),
    _words(
        "Logistics Foods Consulting Labs Systems Retail Energy Design Health "
        "Bikes Studio Partners Robotics Analytics"
    ),
)
FREE_MAIL = ["gmail.com", "outlook.com", "proton.me", "yahoo.com", "icloud.com", "gmx.net"]
TLD = {"BE": "be", "FR": "fr", "DE": "de", "NL": "nl", "GB": "co.uk", "US": "com", "ES": "es"}
TLD["IT"] = "it"


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _phone(rng: random.Random, country: str) -> str:
    """A valid mobile number of `country` in E.164."""
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    digits = str(example.national_number)
    for _ in range(20):
        tail = "".join(rng.choice("0123456789") for _ in range(6))
        candidate = phonenumbers.PhoneNumber(
            country_code=example.country_code, national_number=int(digits[:-6] + tail)
        )
        if phonenumbers.is_valid_number(candidate):
            return phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


@dataclass
class Person:
    name: str
    email: str
    phone: str
    country: str
    city: str
    company: str


class PersonFactory:
    """Deterministic people with unique addresses."""

    def __init__(self, rng: random.Random, taken: set[str] | None = None) -> None:
        self.rng = rng
        self.taken = taken if taken is not None else set()
        self.companies = [f"{a} {b}" for a in COMPANY_WORDS[0] for b in COMPANY_WORDS[1]]
        rng.shuffle(self.companies)
        self.companies = self.companies[:90]

    def make(self, country: str = "") -> Person:
        rng = self.rng
        if not country:
            weights = list(COUNTRY_WEIGHTS.values())
            country = rng.choices(list(COUNTRY_WEIGHTS), weights=weights)[0]
        pool = PEOPLE[country]
        first, last = rng.choice(pool["first"]), rng.choice(pool["last"]).strip()
        company = rng.choice(self.companies) if rng.random() < 0.8 else ""
        if company and rng.random() < 0.7:
            domain = f"{_ascii(company)}.{TLD[country]}"
        else:
            domain = rng.choice(FREE_MAIL)
        local = f"{_ascii(first)}.{_ascii(last)}"
        email, n = f"{local}@{domain}", 1
        while email in self.taken:
            n += 1
            email = f"{local}{n}@{domain}"
        self.taken.add(email)
        return Person(
            name=f"{first} {last}",
            email=email,
            phone=_phone(rng, country),
            country=country,
            city=rng.choice(pool["city"]),
            company=company,
        )


def _past(rng: random.Random, now: dt.datetime, days: int, newest: int = 0) -> dt.datetime:
    """A moment in the last `days` days, at least `newest` days (and an hour) ago."""
    return now - dt.timedelta(seconds=rng.randint(max(3600, newest * 86400), days * 86400))


def _demo_tags() -> dict[str, int]:
    Tag.objects.bulk_create([Tag(name=n) for n in TAGS], ignore_conflicts=True)
    return dict(Tag.objects.filter(name__in=TAGS).values_list("name", "id"))


def _tag_links(model: type, rows: list[tuple[int, int]]) -> None:
    through = model.tags.through
    source = f"{model._meta.model_name}_id"
    through.objects.bulk_create(
        [through(**{source: rid, "tag_id": tid}) for rid, tid in rows], ignore_conflicts=True
    )


# --- steps -------------------------------------------------------------------------------------


def seed_users(ctx: DemoContext) -> None:
    """Three salespersons (marketing users); they log in only once given a password."""
    existing = set(User.objects.values_list("username", flat=True))
    new = []
    for username, first, last, email in SALESPEOPLE:
        if username not in existing:
            user = User(
                username=username,
                first_name=first,
                last_name=last,
                email=email,
                role=User.Role.MARKETING,
            )
            user.set_unusable_password()
            new.append(user)
    User.objects.bulk_create(new)


def salespeople() -> list[User]:
    return list(User.objects.filter(username__in=[s[0] for s in SALESPEOPLE]).order_by("id"))


def seed_contacts(ctx: DemoContext) -> None:
    if Contact.objects.exists():
        return
    ctx.say(f"{CONTACTS:,} contacts")
    rng = ctx.rng("contacts")
    tags = _demo_tags()
    sellers = salespeople()
    factory = PersonFactory(rng)
    contacts, chosen_tags = [], []
    for _ in range(CONTACTS):
        p = factory.make()
        contacts.append(
            Contact(
                name=p.name,
                email=p.email,
                phone=p.phone if rng.random() < 0.85 else "",
                company_name=p.company,
                country=p.country,
                city=p.city,
                salesperson=rng.choice(sellers) if sellers and rng.random() < 0.7 else None,
                active=rng.random() >= 0.03,
                created_at=_past(rng, ctx.now, 720, newest=DAYS),
            )
        )
        # Few newsletter readers and prospects yet: more join during the replayed days.
        weights = [0.08, 0.16, 0.1, 0.06, 0.35]
        chosen_tags.append([t for t, w in zip(TAGS, weights, strict=True) if rng.random() < w])
    Contact.objects.bulk_create(contacts, batch_size=500)
    _tag_links(
        Contact,
        [(c.pk, tags[t]) for c, names in zip(contacts, chosen_tags, strict=True) for t in names],
    )


PRODUCTS = [
    "Annual subscription",
    "Onboarding package",
    "Enterprise licence",
    "Consulting days",
    "Support renewal",
    "Pilot project",
    "Team training",
    "Hardware upgrade",
]


def seed_leads(ctx: DemoContext) -> None:
    if Lead.objects.exists():
        return
    ctx.say(f"{LEADS} leads")
    rng = ctx.rng("leads")
    stages = {s.name: s for s in ensure_default_stages()}
    stage_names = [n for n in ("New", "Qualified", "Proposition", "Won") if n in stages]
    stage_names = stage_names or list(stages)
    contacts = list(Contact.objects.filter(active=True).order_by("id"))
    sellers = salespeople()
    tags = _demo_tags()
    factory = PersonFactory(ctx.rng("lead-people"), {c.email for c in contacts})
    leads, chosen_tags = [], []
    for _ in range(LEADS):
        contact = rng.choice(contacts) if contacts and rng.random() < 0.6 else None
        if contact is not None:
            name, email, phone = contact.name, contact.email, contact.phone
            company, seller = contact.company_name, contact.salesperson
        else:
            p = factory.make()
            name, email, phone, company = p.name, p.email, p.phone, p.company
            seller = rng.choice(sellers) if sellers else None
        # Old leads have mostly left New; the new ones arrive during the replayed days.
        weights = [8, 34, 31, 27][: len(stage_names)]
        leads.append(
            Lead(
                title=f"{rng.choice(PRODUCTS)} for {company or name}",
                contact=contact,
                contact_name=name,
                email=email,
                phone=phone,
                salesperson=seller,
                priority=rng.choices([0, 1, 2, 3], weights=[40, 30, 20, 10])[0],
                stage=stages[rng.choices(stage_names, weights=weights)[0]],
                expected_revenue=Decimal(rng.randrange(500, 80_000, 10)),
                active=rng.random() >= 0.05,
                created_at=_past(rng, ctx.now, 365, newest=DAYS),
            )
        )
        chosen_tags.append([t for t in ("VIP", "Prospect", "Partner") if rng.random() < 0.2])
    Lead.objects.bulk_create(leads, batch_size=500)
    rows = [(lead.pk, tags[t]) for lead, ts in zip(leads, chosen_tags, strict=True) for t in ts]
    _tag_links(Lead, rows)


def seed_events(ctx: DemoContext) -> None:
    if Event.objects.exists():
        return
    ctx.say(f"2 events, {REGISTRATIONS} registrations")
    rng = ctx.rng("events")
    today = ctx.now.replace(hour=9, minute=0, second=0, microsecond=0)
    summit = Event.objects.create(
        name="Drumbeat Summit 2026",
        date_begin=today + dt.timedelta(days=21),
        date_end=today + dt.timedelta(days=22, hours=8),
        location="Brussels, Square Meeting Centre",
        description="Two days of talks and workshops on marketing automation.",
    )
    webinar = Event.objects.create(
        name="Automation Masterclass (webinar)",
        date_begin=today - dt.timedelta(days=10, hours=-5),
        date_end=today - dt.timedelta(days=10, hours=-7),
        location="Online",
        description="Building your first nurturing workflow, live.",
    )
    contacts = list(Contact.objects.filter(active=True).order_by("id"))
    rng.shuffle(contacts)
    factory = PersonFactory(ctx.rng("event-people"), {c.email for c in contacts})
    registrations = []
    for i in range(REGISTRATIONS):
        event = summit if i < 180 else webinar
        contact = contacts.pop() if contacts and rng.random() < 0.75 else None
        if contact is not None:
            name, email, phone = contact.name, contact.email, contact.phone
        else:
            p = factory.make()
            name, email, phone = p.name, p.email, p.phone
        if event is summit:
            state = rng.choices(["confirmed", "draft", "cancelled"], weights=[80, 12, 8])[0]
        else:
            state = rng.choices(["attended", "confirmed", "cancelled"], weights=[60, 25, 15])[0]
        registrations.append(
            Registration(
                event=event,
                name=name,
                email=email,
                phone=phone,
                contact=contact,
                state=state,
                created_at=_past(rng, ctx.now, 40),
            )
        )
    Registration.objects.bulk_create(registrations, batch_size=500)


OPT_OUT_REASONS = [
    "I receive too many emails",
    "The content is not relevant to me",
    "I never signed up for this list",
    "I no longer work in this field",
    "",
]
BLACKLIST_REASONS = ["Asked to receive no more email", "Hard bounce", "Spam complaint"]


def seed_mailing(ctx: DemoContext) -> None:
    if MailingContact.objects.exists():
        return
    ctx.say(f"3 lists, {MAILING_CONTACTS:,} mailing contacts")
    rng = ctx.rng("mailing")
    lists = {}
    for name, public, description in [
        ("Newsletter", True, "Monthly product news and articles"),
        ("Customers", False, "Announcements for paying customers"),
        ("Confirmed contacts", True, "Subscribers who confirmed their address (double opt-in)"),
    ]:
        lists[name], _ = MailingList.objects.get_or_create(
            name=name, defaults={"is_public": public, "description": description}
        )
    contacts = list(Contact.objects.order_by("id"))
    rng.shuffle(contacts)
    customers = set(Contact.objects.filter(tags__name="Customer").values_list("id", flat=True))
    from_contacts = contacts[: min(1100, len(contacts))]
    factory = PersonFactory(ctx.rng("mailing-people"), {c.email for c in contacts})
    people: list[tuple[MailingContact, bool]] = []
    for c in from_contacts:
        people.append(
            (
                MailingContact(
                    name=c.name,
                    email=c.email,
                    phone=c.phone,
                    company_name=c.company_name,
                    country=c.country,
                    created_at=_past(rng, ctx.now, 540),
                ),
                c.pk in customers,
            )
        )
    while len(people) < MAILING_CONTACTS:
        p = factory.make()
        mc = MailingContact(
            name=p.name if rng.random() < 0.8 else "",
            email=p.email,
            phone=p.phone if rng.random() < 0.4 else "",
            company_name=p.company,
            country=p.country,
            created_at=_past(rng, ctx.now, 540),
        )
        people.append((mc, False))
    MailingContact.objects.bulk_create([mc for mc, _ in people], batch_size=500)

    subscriptions = []
    for mc, is_customer in people:
        chosen = []
        if rng.random() < 0.8:
            chosen.append("Newsletter")
        if is_customer or rng.random() < 0.05:
            chosen.append("Customers")
        if rng.random() < 0.33:
            chosen.append("Confirmed contacts")
        for name in chosen or ["Newsletter"]:
            opted_out = rng.random() < 0.06
            subscriptions.append(
                Subscription(
                    contact=mc,
                    list=lists[name],
                    confirmed=name == "Confirmed contacts" or rng.random() < 0.3,
                    opt_out=opted_out,
                    opt_out_at=_past(rng, ctx.now, 90) if opted_out else None,
                    opt_out_reason=rng.choice(OPT_OUT_REASONS) if opted_out else "",
                    created_at=mc.created_at,
                )
            )
    Subscription.objects.bulk_create(subscriptions, batch_size=500)

    blacklisted = rng.sample([mc for mc, _ in people], 40)
    EmailBlacklist.objects.bulk_create(
        [
            EmailBlacklist(email=mc.email, reason=rng.choice(BLACKLIST_REASONS))
            for mc in blacklisted
        ],
        ignore_conflicts=True,
    )
    phones = [mc.phone for mc, _ in people if mc.phone]
    PhoneBlacklist.objects.bulk_create(
        [PhoneBlacklist(number=n, reason="Replied STOP") for n in rng.sample(phones, 12)],
        ignore_conflicts=True,
    )


def seed_brand(ctx: DemoContext) -> None:
    """The shop's brand kit and a few images in the media library (drumbeat/demo/brand.py)."""
    from drumbeat.demo.brand import seed_brand as seed_brand_kit

    ctx.say("brand kit and media library")
    seed_brand_kit()


STEPS: list[Callable[[DemoContext], None]] = [
    seed_users,
    seed_contacts,
    seed_leads,
    seed_events,
    seed_mailing,
    seed_brand,
]


# --- the administrator -------------------------------------------------------------------------


def _login_file() -> Path:
    return Path(settings.HOME) / LOGIN_FILE


def ensure_admin() -> Login:
    """The `admin` user with the password kept in DRUMBEAT_HOME/demo-login.txt (generated on
    first use). If the user's password no longer matches the file, it is reset to it."""
    path = _login_file()
    password = ""
    if path.exists():
        for line in path.read_text().splitlines():
            if line.startswith("password:"):
                password = line.split(":", 1)[1].strip()
    if not password:
        password = secrets.token_urlsafe(12)
        path.write_text(f"username: {ADMIN_USERNAME}\npassword: {password}\n")
    path.chmod(0o600)
    user = User.objects.filter(username=ADMIN_USERNAME).first()
    if user is None:
        user = User(
            username=ADMIN_USERNAME,
            first_name="Ada",
            last_name="Admin",
            email="admin@drumbeat.example",
        )
    changed = user.pk is None or not user.check_password(password)
    if changed:
        user.set_password(password)
    if user.role != User.Role.ADMIN or not user.is_staff or not user.is_superuser:
        user.role, user.is_staff, user.is_superuser, changed = User.Role.ADMIN, True, True, True
    if changed:
        user.save()
    return Login(ADMIN_USERNAME, password)


def seed(progress: bool = False) -> Login:
    """Create the demo data set if it is not there yet; returns the administrator login."""
    ctx = DemoContext(now=timezone.now(), progress=progress)
    with transaction.atomic():
        login = ensure_admin()
        for step in STEPS:
            step(ctx)
    from drumbeat.demo.campaigns import seed_campaigns

    # Outside the transaction: the replayed tracking events reach the engine when they commit.
    seed_campaigns(progress=progress, now=ctx.now)
    return login
