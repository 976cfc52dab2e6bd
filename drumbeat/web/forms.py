"""Forms of the web UI. They validate shapes (required, types, choices); the business rules
live in the services, whose ValidationError({field: message}) lands next to the same field."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse

from drumbeat.accounts.models import User
from drumbeat.contacts.models import Contact
from drumbeat.crm.models import Lead, Stage
from drumbeat.events.models import Event, Registration
from drumbeat.lib.countries import country_choices
from drumbeat.lib.timezones import available_zones
from drumbeat.mailing.models import MailingList
from drumbeat.timeline.models import Task

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def user_choices_field(label: str = "Salesperson") -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        User.objects.filter(is_active=True).order_by("first_name", "username"),
        required=False,
        label=label,
        empty_label="— nobody —",
    )


class RecordSearchInput(forms.TextInput):
    """A text input whose suggestions (a <datalist> of record ids with their names) come from
    the record list's `options/` endpoint as the user types: no select with every record."""

    def __init__(self, kind: str, attrs=None):
        super().__init__(attrs)
        self.kind = kind

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        list_id = f"{attrs.get('id', name)}-options"
        widget_attrs = context["widget"]["attrs"]
        widget_attrs["list"] = list_id
        widget_attrs["autocomplete"] = "off"
        widget_attrs["placeholder"] = "Type a name, then pick"
        widget_attrs["hx-get"] = reverse("record_options", kwargs={"kind": self.kind})
        widget_attrs["hx-trigger"] = "input changed delay:250ms"
        widget_attrs["hx-target"] = f"#{list_id}"
        context["list_id"] = list_id
        return context

    def render(self, name, value, attrs=None, renderer=None):
        from django.utils.html import format_html

        html = super().render(name, value, attrs, renderer)
        list_id = f"{(attrs or {}).get('id', name)}-options"
        current = ""
        if str(value or "").isdigit():
            record = Contact.objects.filter(pk=int(value)).only("name").first()
            current = f"#{value} is {record.name}" if record else ""
        return format_html(
            '{}<datalist id="{}"></datalist><span class="help">{}</span>', html, list_id, current
        )


class ContactChoiceField(forms.ModelChoiceField):
    """A contact chosen by id through `RecordSearchInput`."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text", "Type part of a name or email and pick the contact from the list."
        )
        super().__init__(
            Contact.objects.filter(active=True),
            widget=RecordSearchInput("contacts"),
            **kwargs,
        )

    def prepare_value(self, value):
        return getattr(value, "pk", value)


class TagsField(forms.CharField):
    """Comma-separated tag names, given to the services as a list."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Separate tags with commas, e.g. VIP, Customer")
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if hasattr(value, "all"):
            return ", ".join(t.name for t in value.all())
        if isinstance(value, list | tuple):
            return ", ".join(str(getattr(t, "name", t)) for t in value)
        return value

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


class CountryField(forms.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(
            choices=[("", "—")] + country_choices(), required=False, label="Country", **kwargs
        )


class TimeZoneField(forms.ChoiceField):
    """IANA zones; empty: worked out from the phone or country when saved."""

    def __init__(self, **kwargs):
        super().__init__(
            choices=lambda: (
                [("", "Automatic (from phone or country)")]
                + [(z, z) for z in sorted(available_zones())]
            ),
            required=False,
            label="Time zone",
            **kwargs,
        )


class ContactForm(forms.Form):
    name = forms.CharField(max_length=200)
    email = forms.CharField(max_length=254, required=False, widget=forms.EmailInput)
    phone = forms.CharField(max_length=32, required=False, widget=forms.TextInput({"type": "tel"}))
    company_name = forms.CharField(max_length=200, required=False, label="Company")
    country = CountryField()
    city = forms.CharField(max_length=100, required=False)
    time_zone = TimeZoneField()
    salesperson = user_choices_field()
    tags = TagsField()


class LeadForm(forms.Form):
    title = forms.CharField(max_length=200)
    contact = ContactChoiceField()
    contact_name = forms.CharField(max_length=200, required=False)
    email = forms.CharField(max_length=254, required=False, widget=forms.EmailInput)
    phone = forms.CharField(max_length=32, required=False, widget=forms.TextInput({"type": "tel"}))
    time_zone = TimeZoneField()
    salesperson = user_choices_field()
    priority = forms.TypedChoiceField(choices=Lead.Priority.choices, coerce=int, initial=0)
    stage = forms.ModelChoiceField(
        Stage.objects.all(), required=False, empty_label="— first stage —"
    )
    expected_revenue = forms.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, initial=0
    )
    tags = TagsField()


class EventForm(forms.Form):
    name = forms.CharField(max_length=200)
    date_begin = forms.DateTimeField(label="Begins", widget=DATETIME)
    date_end = forms.DateTimeField(label="Ends", widget=DATETIME)
    location = forms.CharField(max_length=200, required=False)
    description = forms.CharField(required=False, widget=forms.Textarea({"rows": 4}))


class RegistrationForm(forms.Form):
    event = forms.ModelChoiceField(Event.objects.filter(active=True), empty_label=None)
    name = forms.CharField(max_length=200, label="Attendee name", required=False)
    email = forms.CharField(max_length=254, required=False, widget=forms.EmailInput)
    phone = forms.CharField(max_length=32, required=False, widget=forms.TextInput({"type": "tel"}))
    time_zone = TimeZoneField()
    contact = ContactChoiceField()
    state = forms.ChoiceField(choices=Registration.State.choices, initial="confirmed")


class MailingListForm(forms.Form):
    name = forms.CharField(max_length=128)
    is_public = forms.BooleanField(
        required=False,
        initial=True,
        label="Public in preferences",
        help_text="Offered on the unsubscribe page for re-subscription",
    )
    description = forms.CharField(required=False, widget=forms.Textarea({"rows": 3}))


class MailingContactForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    email = forms.CharField(max_length=254, widget=forms.EmailInput)
    phone = forms.CharField(max_length=32, required=False, widget=forms.TextInput({"type": "tel"}))
    company_name = forms.CharField(max_length=200, required=False, label="Company")
    country = CountryField()
    time_zone = TimeZoneField()
    tags = TagsField()
    lists = forms.ModelMultipleChoiceField(
        MailingList.objects.filter(active=True),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="New subscriptions only; opt-outs are kept.",
    )


class EmailBlacklistForm(forms.Form):
    email = forms.CharField(max_length=254, widget=forms.EmailInput)
    reason = forms.CharField(max_length=200, required=False)


class PhoneBlacklistForm(forms.Form):
    number = forms.CharField(max_length=32, widget=forms.TextInput({"type": "tel"}))
    reason = forms.CharField(max_length=200, required=False)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=200, help_text="Why is this address allowed to receive mail again?"
    )


class NoteForm(forms.Form):
    body = forms.CharField(label="Note", widget=forms.Textarea({"rows": 3}), max_length=5000)


class TaskForm(forms.Form):
    kind = forms.ChoiceField(choices=Task.Kind.choices, label="Type")
    summary = forms.CharField(max_length=200)
    due_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    assigned_to = user_choices_field("Assigned to")
    note = forms.CharField(required=False, widget=forms.Textarea({"rows": 2}))


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8, first line = column names")
    update_existing = forms.BooleanField(
        required=False, label="Update existing records with the same email"
    )
    all_or_nothing = forms.BooleanField(required=False, label="Import nothing if a line is invalid")
    list_name = forms.CharField(
        required=False, max_length=128, label="Subscribe to list", help_text="List name"
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith((".csv", ".txt")):
            raise ValidationError("Please choose a .csv file.")
        return upload


def apply_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError next to the fields it names (others on top)."""
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)
