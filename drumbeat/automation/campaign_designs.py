"""The emails of the six campaign templates as email-designer designs (drumbeat/mailing/design).

Each email is a function of the brand (`drumbeat.brand.kit.current_brand()` when the campaign
is created): its logo or sender name heads the email, its colours fill the buttons and the
highlight boxes, and the footer block carries its sender name and postal address with the
unsubscribe and view-online links. `design_for(key, brand, why)` returns the design JSON of
email `key`; `why` is the footer's "you receive this because…" line of the campaign's target.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from typing import Any

from drumbeat.brand.kit import Brand

MUTED = "#6b7280"

Block = dict[str, Any]


class _Ids:
    def __init__(self) -> None:
        self.counter = count(1)

    def __call__(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"


def _tint(color: str, amount: float = 0.9) -> str:
    """`color` mixed with white (`amount` of white): the highlight boxes' background."""
    channels = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(c + (255 - c) * amount) for c in channels]
    return "#" + "".join(f"{c:02x}" for c in mixed)


class _Email:
    """Builds one design: content sections on the brand's content background."""

    def __init__(self, brand: Brand) -> None:
        self.brand = brand
        self.id = _Ids()
        self.sections: list[dict[str, Any]] = []
        self.blocks: list[Block] = []
        self.header()

    def header(self) -> None:
        brand = self.brand
        if brand.logo_url:
            self.add(
                "image",
                src=brand.logo_url,
                alt=brand.sender_name or "Logo",
                href="",
                width=brand.logo_width,
                align="left",
            )
        elif brand.sender_name:
            self.add(
                "heading",
                text=brand.sender_name,
                level=3,
                align="left",
                color=brand.primary_color,
            )

    def add(self, kind: str, **fields: Any) -> _Email:
        self.blocks.append({"id": self.id("b"), "type": kind, **fields})
        return self

    def heading(self, text: str) -> _Email:
        return self.add("heading", text=text, level=1, align="left", color=None)

    def text(self, *paragraphs: str, muted: bool = False) -> _Email:
        if muted:
            paragraphs = tuple(f'<span style="color: {MUTED}">{p}</span>' for p in paragraphs)
        return self.add("text", html="".join(f"<p>{p}</p>" for p in paragraphs), align="left")

    def button(self, label: str, href: str) -> _Email:
        return self.add(
            "button",
            label=label,
            href=href,
            background=self.brand.primary_color,
            color="#ffffff",
            align="left",
        )

    def close_section(self, background: str | None = None, padding: int = 16) -> None:
        if self.blocks:
            self.sections.append(
                {
                    "id": self.id("s"),
                    "layout": [100],
                    "background": background,
                    "padding": padding,
                    "columns": [{"blocks": self.blocks}],
                }
            )
        self.blocks = []

    def highlight(self, *items: str) -> _Email:
        """A tinted box of ticked items (between content sections)."""
        self.close_section()
        self.text("<br>".join(f"\u2713\u00a0 {item}" for item in items))
        self.close_section(background=_tint(self.brand.primary_color), padding=8)
        return self

    def coupon(self, label: str, code: str, note: str) -> _Email:
        self.close_section()
        self.add("text", html=f'<p><span style="color: {MUTED}">{label}</span></p>', align="center")
        self.add("heading", text=code, level=1, align="center", color=self.brand.primary_color)
        self.add("text", html=f'<p><span style="color: {MUTED}">{note}</span></p>', align="center")
        self.close_section(background=_tint(self.brand.primary_color), padding=8)
        return self

    def design(self, why: str) -> dict[str, Any]:
        self.close_section()
        if self.brand.social_links:
            self.add(
                "social",
                align="center",
                links=[{"network": s.network, "url": s.url} for s in self.brand.social_links],
            )
        self.add("footer", text=why)
        self.close_section(background=self.brand.background_color, padding=8)
        return {"version": 1, "settings": {}, "sections": self.sections}


# --- the emails (their wording is the campaign templates') ------------------------------------

NAME = '{{ record.name or "there" }}'
CONTACT_NAME = '{{ record.contact_name or "there" }}'


def welcome_contact(e: _Email) -> None:
    e.heading(f"Welcome aboard, {NAME}!")
    e.text(
        "We are glad to have you with us. From now on you will hear from us only when we have "
        "something genuinely useful to share: new features, practical guides and the occasional "
        "invitation to our events."
    )
    e.highlight(
        "Short product news, once or twice a month",
        "Customer stories and hands-on tips",
        "Early access to webinars and meetups near you",
    )
    e.text(
        "The best place to start is our getting-started page: it takes five minutes and shows "
        "what teams like yours do with us in their first week."
    )
    e.button("Get started", "https://www.example.com/getting-started")
    e.text(
        "Questions? Just reply to this email: a real person reads every answer.",
        "See you soon,<br>The team",
    )


def welcome_discount(e: _Email) -> None:
    e.heading(f"Thanks for subscribing, {NAME}!")
    e.text(
        "Welcome to our list. To celebrate, here is <strong>10% off</strong> your first order: "
        "just use this code at checkout."
    )
    e.coupon("Your welcome code", "WELCOME10", "Valid for 30 days on your first order")
    e.button("Shop with 10% off", "https://www.example.com/shop?coupon=WELCOME10")
    e.text("The code cannot be combined with other offers. One use per customer.", muted=True)
    e.text("Happy shopping,<br>The team")


def confirm_subscription(e: _Email) -> None:
    e.heading("Please confirm your subscription")
    e.text(
        f"Hello {NAME},",
        "Someone, hopefully you, asked to receive our newsletter at this address. Before we send "
        "you anything else, we need your confirmation: one click on the button below and you "
        "are in.",
    )
    e.button("Confirm", "https://www.example.com/newsletter/confirmed")
    e.text(
        "If you did not ask for this, simply ignore this email: without your confirmation you "
        "will not receive our newsletter.",
        muted=True,
    )
    e.text("Thank you,<br>The team")


def catalog_offer(e: _Email) -> None:
    e.heading("Our new catalog is yours, free")
    e.text(
        f"Hello {NAME},",
        "Our new catalog has just come out: 64 pages of products, prices and real-world examples "
        "from companies of every size. We would like you to have a copy, free and without "
        "obligation.",
    )
    e.highlight(
        "The full range with up-to-date prices",
        "Volume discounts and partner conditions",
        "Case studies with measured results",
    )
    e.button("Get the free catalog", "https://www.example.com/catalog")
    e.text(
        "Would you rather talk it through? Reply to this email and your account manager will get "
        "back to you.",
        "Best regards,<br>The sales team",
    )


def partnership(e: _Email) -> None:
    e.heading(f"Let's grow together, {NAME}")
    e.text(
        "Thank you for your interest in our catalog. Companies that resell or recommend our "
        "products get more than a discount: they become partners."
    )
    e.highlight(
        "Partner prices from your first order",
        "A dedicated contact and joint marketing",
        "Training for your team, free of charge",
    )
    e.button("Become a partner", "https://www.example.com/partners")
    e.text(
        "Joining takes ten minutes and costs nothing. We look forward to working with you.",
        "Best regards,<br>The partnership team",
    )


def catalog_reminder(e: _Email) -> None:
    e.heading("Did you see our catalog?")
    e.text(
        f"Hello {NAME},",
        "Last week we offered you a free copy of our new catalog. In case our email got lost in "
        "a busy inbox, here it is again: everything we offer, with prices and examples, in one "
        "document.",
    )
    e.button("Download the catalog", "https://www.example.com/catalog")
    e.text(
        "This is our last reminder about it. If the timing is wrong, no problem: you can always "
        "find it on our website.",
        "Best regards,<br>The sales team",
    )


def lead_welcome(e: _Email) -> None:
    e.heading(f"Thanks for reaching out, {CONTACT_NAME}")
    e.text(
        'We received your request and {{ record.salesperson.first_name or "one of our advisers" '
        "}} will take care of it personally. To make the first conversation as useful as "
        "possible, pick a time that suits you: a 20-minute call is usually enough to see whether "
        "we are a good fit."
    )
    e.button("Book a call", "https://www.example.com/book-a-call")
    e.text(
        "In the meantime, our customers' stories show what teams like yours achieved in their "
        'first months: <a href="https://www.example.com/customers">read them here</a>.',
        'Talk soon,<br>{{ record.salesperson.first_name or "The sales team" }}',
    )


def lead_welcome_short(e: _Email) -> None:
    e.heading(f"20 minutes this week, {CONTACT_NAME}?")
    e.text(
        '{{ record.salesperson.first_name or "Your adviser" }} has read your request and has a '
        "few ideas already. Pick a slot and we will call you: no slides, just your questions."
    )
    e.button("Pick a time", "https://www.example.com/book-a-call")
    e.text('Talk soon,<br>{{ record.salesperson.first_name or "The sales team" }}')


EMAILS: dict[str, Callable[[_Email], None]] = {
    "welcome_contact": welcome_contact,
    "welcome_discount": welcome_discount,
    "confirm_subscription": confirm_subscription,
    "catalog_offer": catalog_offer,
    "partnership": partnership,
    "catalog_reminder": catalog_reminder,
    "lead_welcome": lead_welcome,
    "lead_welcome_short": lead_welcome_short,
}


def design_for(key: str, brand: Brand, why: str) -> dict[str, Any]:
    """The design JSON of email `key` (a key of `EMAILS`) for `brand`."""
    email = _Email(brand)
    EMAILS[key](email)
    return email.design(why)
