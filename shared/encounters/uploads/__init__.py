"""shared.encounters.uploads."""
