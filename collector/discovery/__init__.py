"""Finding devices on the network to add to the config (no issue yet)."""
