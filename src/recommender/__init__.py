"""Creator recommender."""
