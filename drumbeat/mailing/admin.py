from django.contrib import admin

from .models import EmailBlacklist, MailingContact, MailingList, PhoneBlacklist, Subscription


@admin.register(MailingList)
class MailingListAdmin(admin.ModelAdmin):
    list_display = ("name", "is_public", "active", "created_at")


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    extra = 0


@admin.register(MailingContact)
class MailingContactAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "company_name", "country", "created_at")
    search_fields = ("name", "email")
    inlines = [SubscriptionInline]


@admin.register(EmailBlacklist)
class EmailBlacklistAdmin(admin.ModelAdmin):
    list_display = ("email", "reason", "active", "created_at")
    search_fields = ("email",)


@admin.register(PhoneBlacklist)
class PhoneBlacklistAdmin(admin.ModelAdmin):
    list_display = ("number", "reason", "active", "created_at")
    search_fields = ("number",)
