"""shared.media_types."""
