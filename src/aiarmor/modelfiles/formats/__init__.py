"""Format analyzers of the model-file scanner, one module per format family."""
