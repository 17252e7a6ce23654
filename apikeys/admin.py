"""API keys in the admin: Admin staff create (the secret is shown once, on the page that
follows) and revoke; nobody edits a key's secret or deletes a key (audit rows name it)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from apikeys import services
from apikeys.models import SCOPES, ApiKey, TransferLimit
from wallet.errors import WalletError


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(name, f"{name}: {text}") for name, text in SCOPES.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "rate_limit", "expiry_date"]


class TransferLimitInline(admin.TabularInline):
    model = TransferLimit
    extra = 1
    verbose_name = "largest single transfer"
    verbose_name_plural = "largest single transfer per currency (no row: no transfers in that currency)"


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    inlines = [TransferLimitInline]
    list_display = ["name", "prefix", "scope_list", "rate_limit", "created", "last_used_at", "revoked"]
    list_filter = ["revoked"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created", "created_by", "last_used_at", "revoked", "revoked_at", "revoked_by"]
    actions = ["revoke"]

    @admin.display(description="scopes")
    def scope_list(self, key: ApiKey) -> str:
        return ", ".join(key.scopes or [])

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        if obj is not None and obj.revoked:
            return [*self.readonly_fields, "name", "scopes", "rate_limit", "expiry_date"]
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            obj.save()  # audited in save_related, once the transfer limits are saved too
            return
        # Through the service: permission check, hashing, audit. The limits come with the inline.
        _, secret = services.apikey_create(
            actor=request.user,
            name=obj.name,
            scopes=obj.scopes,
            rate_limit=obj.rate_limit,
            expiry_date=obj.expiry_date,
            instance=obj,
        )
        request._new_api_key_secret = secret  # shown by response_add, stored nowhere

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # On creation apikey.create has the rest; the limits come with the inline, after it.
        changed = list(form.changed_data) if change else []
        if any(formset.has_changed() for formset in formsets):
            changed.append("transfer limits")
        if changed:
            services.apikey_record_change(actor=request.user, key=form.instance, changed=changed)

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue=None) -> HttpResponse:
        # The secret goes straight into this page: not into a message (a cookie) nor the session.
        context = {
            **self.admin_site.each_context(request),
            "key": obj,
            "secret": request._new_api_key_secret,
            "opts": self.opts,
            "title": f"API key {obj.name} created",
        }
        return TemplateResponse(request, "admin/apikeys/created.html", context)

    @admin.action(description="Revoke the selected API keys (for good)")
    def revoke(self, request: HttpRequest, queryset) -> None:
        for key in queryset:
            try:
                services.apikey_revoke(actor=request.user, key=key, reason="revoked in the admin")
            except WalletError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return
        self.message_user(request, f"{queryset.count()} key(s) revoked.", messages.SUCCESS)
