from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from drumbeat.contacts.models import Contact
from drumbeat.crm.models import Lead
from drumbeat.events.models import Registration
from drumbeat.mailing.models import MailingContact


@login_required
def home(request: HttpRequest) -> HttpResponse:
    counts = {
        "Contacts": Contact.objects.filter(active=True).count(),
        "Leads": Lead.objects.filter(active=True).count(),
        "Event registrations": Registration.objects.count(),
        "Mailing contacts": MailingContact.objects.count(),
    }
    return render(request, "web/home.html", {"counts": counts})
