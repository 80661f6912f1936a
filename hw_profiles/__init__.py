"""Hardware profiles (TOML data) for the cost model."""
