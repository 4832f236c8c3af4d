"""Layer 7: published products: COG rasters, quicklooks, GIS sidecars, STAC and the HTML report."""
