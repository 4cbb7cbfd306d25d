"""shared.governance."""
