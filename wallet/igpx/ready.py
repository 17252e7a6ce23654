def ready() -> None:
    """Called from WalletConfig.ready(): make POST /api/operator/players/<id>/sessions/igpx/ work."""
    from wallet.api import sessions
    from wallet.igpx.services import session_launch

    sessions.register("igpx", session_launch)
