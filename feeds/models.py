"""feeds data."""
