from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse

from drumbeat.contacts.models import Contact
from drumbeat.crm.models import Lead
from drumbeat.events.models import Registration
from drumbeat.mailing.models import MailingContact


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The campaign dashboard once it exists; until then an overview of the records."""
    try:
        return redirect(reverse("campaign_list"))
    except NoReverseMatch:
        pass
    counts = [
        ("Contacts", Contact.objects.filter(active=True).count(), "contacts"),
        ("Leads", Lead.objects.filter(active=True).count(), "leads"),
        ("Event registrations", Registration.objects.count(), "registrations"),
        ("Mailing contacts", MailingContact.objects.count(), "mailing-contacts"),
    ]
    return render(request, "web/home.html", {"counts": counts})
