"""Recipient-side changes: unsubscribe, re-subscribe, SMS stop (docs/product.md#unsubscribe);
template saves."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import transaction

from drumbeat.brand.kit import current_brand
from drumbeat.lib import clock, hooks
from drumbeat.lib.normalize import normalize_phone, phone_region

from . import rendering
from .design import DesignError, compile_design, validate_design
from .design import check_template as design_checks
from .events import blacklist_emails
from .models import EmailBlacklist, MailingList, Message, PhoneBlacklist, Subscription, Template

LIST_RECORD = "mailing.mailingcontact"


def is_list_mailing(message: Message) -> bool:
    return message.record_model == LIST_RECORD and message.record_id is not None


def unsubscribe_message(message: Message, reason: str = "") -> None:
    """The recipient of `message` wants no more of this mail. For list mailings (the record is
    a mailing contact with subscriptions) the contact opts out of its lists; otherwise the
    address (or phone number) is blacklisted for campaign mail."""
    reason = (reason or "").strip()[:200]
    with transaction.atomic():
        transaction.on_commit(lambda: report_unsubscribe(message, reason))
        if is_list_mailing(message):
            updated = Subscription.objects.filter(
                contact_id=message.record_id, opt_out=False
            ).update(opt_out=True, opt_out_at=clock.now(), opt_out_reason=reason or "unsubscribed")
            if updated or Subscription.objects.filter(contact_id=message.record_id).exists():
                return
        if message.channel == Message.Channel.SMS:
            blacklist_phone(message.recipient, reason or "stopped by SMS link")
        else:
            blacklist_emails([message.recipient], reason or "unsubscribed by link")


def record_unsubscribe_reason(message: Message, reason: str) -> None:
    reason = (reason or "").strip()[:200]
    if not reason:
        return
    if is_list_mailing(message):
        Subscription.objects.filter(contact_id=message.record_id, opt_out=True).update(
            opt_out_reason=reason
        )
    else:
        EmailBlacklist.objects.filter(email=message.recipient).update(
            reason=f"unsubscribed: {reason}"[:200]
        )


def public_lists_for(message: Message) -> list[tuple[MailingList, bool]]:
    """Public lists offered for re-subscription, with whether the contact is subscribed."""
    if not is_list_mailing(message):
        return []
    subscribed = set(
        Subscription.objects.filter(contact_id=message.record_id, opt_out=False).values_list(
            "list_id", flat=True
        )
    )
    lists = MailingList.objects.filter(is_public=True, active=True)
    return [(mailing_list, mailing_list.pk in subscribed) for mailing_list in lists]


def resubscribe_message(message: Message, list_ids: list[int]) -> None:
    """Set the contact's public-list subscriptions to exactly `list_ids` (others opted out)."""
    if not is_list_mailing(message):
        return
    public = set(
        MailingList.objects.filter(is_public=True, active=True).values_list("pk", flat=True)
    )
    wanted = public & set(list_ids)
    now = clock.now()
    with transaction.atomic():
        Subscription.objects.filter(contact_id=message.record_id, list_id__in=wanted).update(
            opt_out=False, opt_out_at=None, opt_out_reason=""
        )
        existing = set(
            Subscription.objects.filter(contact_id=message.record_id).values_list(
                "list_id", flat=True
            )
        )
        Subscription.objects.bulk_create(
            [
                Subscription(contact_id=message.record_id, list_id=list_id)
                for list_id in wanted - existing
            ],
            ignore_conflicts=True,
        )
        Subscription.objects.filter(
            contact_id=message.record_id, list_id__in=public - wanted, opt_out=False
        ).update(opt_out=True, opt_out_at=now, opt_out_reason="unsubscribed")


def blacklist_phone(number: str, reason: str) -> None:
    number = normalize_phone(number) or number
    entry, created = PhoneBlacklist.objects.get_or_create(
        number=number, defaults={"reason": reason}
    )
    if not created and not entry.active:
        entry.active, entry.reason = True, reason
        entry.save(update_fields=["active", "reason", "updated_at"])


def stop_sms(message: Message, number: str) -> bool:
    """Blacklist the number typed on the SMS stop page when it is the message's recipient. A
    number without its +country prefix is read in the country of the message's record, else
    in that of the number the message went to."""
    typed = normalize_phone(number, record_country(message) or phone_region(message.recipient))
    if not typed or typed != normalize_phone(message.recipient):
        return False
    blacklist_phone(typed, "stopped by SMS link")
    transaction.on_commit(lambda: report_unsubscribe(message, "stopped by SMS link"))
    return True


def record_country(message: Message) -> str:
    """The `country` of the record a message was sent to ('' when it has none)."""
    try:
        model = apps.get_model(message.record_model)
    except (LookupError, ValueError):
        return ""
    if message.record_id is None or "country" not in {f.name for f in model._meta.fields}:
        return ""
    rows = model._default_manager.filter(pk=message.record_id).values_list("country", flat=True)
    return (rows.first() or "").strip().upper()


def report_unsubscribe(message: Message, reason: str) -> None:
    """Tell the listeners (automation's outbound webhooks): `hooks.unsubscribed`, after commit."""
    hooks.unsubscribed(
        hooks.Unsubscribed(
            channel=message.channel,
            address=message.recipient,
            at=clock.now(),
            message_id=message.pk,
            record_model=message.record_model or "",
            record_id=message.record_id,
            campaign_id=message.campaign_id,
            reason=reason,
        )
    )


# --- templates ---------------------------------------------------------------------------------

# The fields a template is written with, in the editor's order.
TEMPLATE_FIELDS = (
    "name",
    "kind",
    "target",
    "subject",
    "preview_text",
    "email_from",
    "reply_to",
    "body_html",
    "body_text",
    "sms_optout_footer",
)


def check_template(template: Template, render_fields: rendering.RenderFields | None = None) -> None:
    """Raise ValidationError naming the field at fault when `template` cannot be rendered
    (syntax, unknown placeholders, sandbox escapes, missing subject or body)."""
    fields = render_fields if render_fields is not None else rendering.registered_render_fields()
    problems = rendering.validate_template(template, fields)
    body = "body_text" if template.kind == Template.Kind.SMS else "body_html"
    errors: dict[str, list[str]] = {}
    for problem in problems:
        part = problem.reason.split(":", 1)[0]
        name = "subject" if part == "subject" else body
        errors.setdefault(name, []).append(f"Line {problem.line}: {problem.reason}")
    if errors:
        raise ValidationError(errors)


# Set through the services but not a field of the HTML editor's form.
DESIGN_FIELD = "design"


def _set_template_fields(template: Template, fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(TEMPLATE_FIELDS) - {DESIGN_FIELD}
    if unknown:
        raise TypeError(f"not template fields: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(template, name, value)


def create_template(render_fields: rendering.RenderFields | None = None, **fields: Any) -> Template:
    """Create an email or SMS template after checking that it renders."""
    template = Template()
    _set_template_fields(template, fields)
    if template.kind not in Template.Kind.values:
        raise ValidationError({"kind": f"Unknown template kind '{template.kind}'."})
    _compile_design(template, render_fields)
    check_template(template, render_fields)
    with transaction.atomic():
        template.save()
    return template


def _compile_design(template: Template, render_fields: rendering.RenderFields | None) -> None:
    """A designed template: validate the design (stored in normal form: defaults filled, text
    HTML sanitised), refuse placeholders the target does not offer (naming the design path),
    and compile it into `body_html` with the current brand. ValidationError keys are
    `design.<JSON path>`."""
    if template.design is None:
        return
    if template.kind != Template.Kind.EMAIL:
        raise ValidationError({DESIGN_FIELD: "Only email templates have a design."})
    try:
        design = validate_design(template.design)
    except DesignError as exc:
        raise ValidationError(_design_errors(exc.problems)) from None
    template.design = design.data
    template.body_html = compile_design(design, current_brand(), title=template.subject).html
    fields = render_fields if render_fields is not None else rendering.registered_render_fields()
    unknown = [
        c
        for c in design_checks(template, fields)
        if c.code == "placeholder_unknown" and c.path not in ("subject", "preview_text")
    ]
    if unknown:
        raise ValidationError(_design_errors(unknown))


def _design_errors(problems: list) -> dict[str, list[str]]:
    """Design problems or checks (each with a JSON `path` and a `message`) as form errors."""
    errors: dict[str, list[str]] = {}
    for problem in problems:
        key = f"{DESIGN_FIELD}.{problem.path}" if problem.path else DESIGN_FIELD
        errors.setdefault(key, []).append(problem.message)
    return errors


def convert_to_html(template: Template) -> Template:
    """Turn a designed template into an HTML template: the design goes, the compiled HTML
    stays in `body_html` and is edited as HTML from then on (there is no way back)."""
    if template.design is None:
        return template
    template.design = None
    with transaction.atomic():
        template.save(update_fields=["design", "updated_at"])
    return template


def recompile_designs() -> int:
    """Compile every designed template again with the current brand (after the brand kit
    changed: sender, address, colours). Returns how many templates were updated."""
    brand = current_brand()
    changed = []
    for template in Template.objects.filter(design__isnull=False).only(
        "id", "subject", "design", "body_html"
    ):
        try:
            compiled = compile_design(template.design, brand, title=template.subject).html
        except DesignError:
            continue  # stored designs validate; one edited behind our back keeps its HTML
        if compiled != template.body_html:
            template.body_html = compiled
            changed.append(template)
    Template.objects.bulk_update(changed, ["body_html"], batch_size=200)
    return len(changed)


def update_template(
    template: Template, render_fields: rendering.RenderFields | None = None, **changes: Any
) -> Template:
    """Change the given fields after checking that the result renders. Kind and target are
    fixed once campaign activities use the template."""
    fixed = sorted(
        k for k in ("kind", "target") if k in changes and changes[k] != getattr(template, k)
    )
    if fixed and template.activities.exists():
        raise ValidationError(
            {name: "Used by campaign activities: this cannot change." for name in fixed}
        )
    if (
        template.design is not None
        and "body_html" in changes
        and changes.get(DESIGN_FIELD, template.design) is not None
        and changes["body_html"] != template.body_html
    ):
        raise ValidationError(
            {
                "body_html": "A designed template's HTML is compiled from its design: change "
                "the design, or convert the template to HTML first."
            }
        )
    _set_template_fields(template, changes)
    _compile_design(template, render_fields)
    check_template(template, render_fields)
    with transaction.atomic():
        template.save()
    return template


def delete_template(template: Template) -> None:
    """Delete a template; refused (ValidationError) while campaign activities use it."""
    with transaction.atomic():
        if template.activities.exists():
            raise ValidationError("This template is used by campaign activities; it is kept.")
        template.delete()
