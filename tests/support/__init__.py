"""Helpers the tests import: paths, trackers, ports, databases, servers, fakes.

Test modules import helpers from here, never from a `conftest.py`; the conftest
files hold only fixtures (which may use these helpers).
"""
