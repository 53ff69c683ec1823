"""Sources: the platforms' own feeds turned into v1 events (mappings, signatures, WeCom)."""
