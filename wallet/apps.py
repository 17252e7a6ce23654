from importlib import import_module

from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    verbose_name = "Wallet and ledger"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from wallet import events
        from wallet.services import reviews

        events.subscribe(reviews.review_on_wallet_event)

        from config import dashboard
        from wallet.dashboard import metrics

        dashboard.register("wallet", metrics)
        post_migrate.connect(_roles_after_migrate, sender=self)

        from wallet.services.backoffice import EXTRA_ROLE_PERMISSIONS

        EXTRA_ROLE_PERMISSIONS.setdefault("Support", []).extend(
            ["wallet.view_protectionchange", "wallet.view_walletlimits"]
        )
        # Risk sets and lifts protection; lifting a self-exclusion early takes two Risk people.
        EXTRA_ROLE_PERMISSIONS.setdefault("Risk", []).extend(
            ["wallet.manage_protection", "wallet.approve_exclusion_lift"]
        )

        # Each provider package wires itself up (session launcher, signals) in its ready module.
        for provider in ("igpx", "betsy"):
            module = import_module(f"wallet.{provider}.ready")
            module.ready()


def _roles_after_migrate(sender, **kwargs) -> None:
    from wallet.services.backoffice import roles_ensure

    roles_ensure()
