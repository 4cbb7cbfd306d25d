"""shared.notifications."""
