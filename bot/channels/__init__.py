"""Rasa input/output channels of the product: the website widget and SMS."""
