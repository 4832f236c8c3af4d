"""Layer 5: batch scoring of tiles (in process and in Spark workers) and the one Spark job runner."""
