"""NLU: custom Rasa components, the spaCy pipeline builder, evaluation."""
