"""Layer 2: scenes, their checks, windowed tile reads, COG ingest and tile planning on the grid."""
