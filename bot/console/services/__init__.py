"""The console's business rules, one module per area, called by the thin routes.

A route reads the form, calls a service (off the event loop) and renders. The
services own the rules (who may do what) and write the audit entries, in the
same transaction as the read or the change they record.
"""
