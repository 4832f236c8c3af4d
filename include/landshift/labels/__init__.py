"""Layer 3: prior land-cover labels (NLCD-coded rasters) aggregated to the tile grid."""
