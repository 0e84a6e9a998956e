"""MS Pain & Migraine assistant: everything that is not the action server."""
