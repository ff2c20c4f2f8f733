"""Using a trained model: :class:`~recbole_llmrec.serving.recommender.Recommender` (a history of titles in,
ranked items out), catalogue files and item-vector export."""
