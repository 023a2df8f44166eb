"""A trained model put to use: evaluated, explained, used to predict, exported."""
