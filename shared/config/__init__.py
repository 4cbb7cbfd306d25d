"""shared.config."""
