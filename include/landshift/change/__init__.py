"""Layer 6: comparison of predictions with prior labels and the change rule."""
