"""Layer 4: model spec, frozen backbone and featurizer, trained heads, evaluation and the model registry."""
