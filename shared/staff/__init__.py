"""shared.staff."""
