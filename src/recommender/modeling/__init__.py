"""Models: the campaign-fit ranker, the sales-lift model with intervals, and the recommender."""
