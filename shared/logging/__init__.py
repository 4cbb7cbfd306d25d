"""shared.logging."""
