"""parlays data."""
