"""shared.crypto."""
