def ready() -> None:
    """Called from WalletConfig.ready(): register the session launcher and anything else."""
