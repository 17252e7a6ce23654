"""crm data."""
