"""Layer 0: the tile grid, the legend and the errors; pure Python, imported by every layer above."""
