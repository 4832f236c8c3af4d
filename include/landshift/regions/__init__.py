"""Layer 8: the region registry, run requests (validated once) and which vintages need a run."""
