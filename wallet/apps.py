from importlib import import_module

from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    verbose_name = "Wallet and ledger"

    def ready(self) -> None:
        # Each provider package wires itself up (session launcher, signals) in its ready module.
        for provider in ("igpx", "betsy"):
            module = import_module(f"wallet.{provider}.ready")
            module.ready()
