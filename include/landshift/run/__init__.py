"""Layer 10: pipelines as data (region run, training run), their stages, the demo seed and reports."""
