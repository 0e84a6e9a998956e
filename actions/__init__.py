"""Custom actions of the MS Pain & Migraine assistant (rasa-sdk action server).

One module per feature; rasa-sdk registers every `Action` subclass in the package.
Nothing here imports the Rasa server or opens a connection at import time.
"""
