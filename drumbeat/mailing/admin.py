from django.contrib import admin

from .models import (
    EmailBlacklist,
    InboundSms,
    Link,
    MailingContact,
    MailingList,
    Message,
    PhoneBlacklist,
    Subscription,
    Template,
)


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


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "target", "subject", "updated_at")
    list_filter = ("kind", "target")
    search_fields = ("name", "subject")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("recipient", "channel", "state", "subject", "sent_at", "opened_at")
    list_filter = ("channel", "state", "is_test")
    search_fields = ("recipient", "message_id")
    readonly_fields = [f.name for f in Message._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Link)
class LinkAdmin(admin.ModelAdmin):
    list_display = ("url", "title", "code", "campaign_id", "activity_id")
    search_fields = ("url", "title")


@admin.register(InboundSms)
class InboundSmsAdmin(admin.ModelAdmin):
    list_display = ("sender", "kind", "text", "message", "received_at")
    list_filter = ("kind",)
    search_fields = ("sender", "text", "provider_id")
    readonly_fields = [f.name for f in InboundSms._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
