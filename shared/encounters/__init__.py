"""shared.encounters."""
