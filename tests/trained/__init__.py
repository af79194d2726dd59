"""The synthetic language pair and the model trained on it."""
