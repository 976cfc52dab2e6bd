"""Design builders shared by the email-designer tests."""

from __future__ import annotations

from typing import Any

from drumbeat.brand.kit import Brand

BRAND = Brand(sender_name="Acme Tools", postal_address="12 Rue de la Paix\n75002 Paris")


def block(kind: str, block_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": block_id, "type": kind, **fields}


def section(section_id: str, *columns: list[dict], layout: list[int] | None = None) -> dict:
    return {
        "id": section_id,
        "layout": layout or [100],
        "columns": [{"blocks": blocks} for blocks in columns],
    }


def design(*sections: dict, **settings: Any) -> dict[str, Any]:
    return {"version": 1, "settings": settings, "sections": list(sections)}


def footer(block_id: str = "f1") -> dict[str, Any]:
    return block("footer", block_id, text="You receive this because you subscribed.")


def full_design() -> dict[str, Any]:
    """Every block type: a heading and text with placeholders, a two-column section with a
    wide image and a button, a divider, a spacer, social links and the footer."""
    return design(
        section(
            "s1",
            [
                block("heading", "b1", text="Hello {{ record.name }}", level=1),
                block(
                    "text",
                    "b2",
                    html='<p>Welcome back, {{ record.name or "friend" }}. '
                    '<a href="https://shop.example.com/news">News</a></p>',
                ),
            ],
        ),
        section(
            "s2",
            [
                block(
                    "image",
                    "b3",
                    src="https://media.example.com/shop.png",
                    alt="Our shop",
                    width=560,
                )
            ],
            [block("button", "b4", label="Shop now", href="https://shop.example.com/")],
            layout=[50, 50],
        ),
        section(
            "s3",
            [
                block("divider", "b5"),
                block("spacer", "b6", height=24),
                block("social", "b7", links=[{"network": "facebook", "url": "https://fb.com/a"}]),
                footer("b8"),
            ],
        ),
    )
