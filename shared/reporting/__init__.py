"""shared.reporting."""
