"""Domain services of the parlay book: quotes, confirmations, orders and settlement, exposure,
line mapping, reconciliation. They take parsed protocol objects and write the database; network
calls (offers, confirmations) happen outside their transactions."""
