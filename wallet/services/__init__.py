"""Wallet writes. Every function that moves money runs in one durable database transaction
with its ledger entries (and audit row, and outbox rows), and returns a result object."""
