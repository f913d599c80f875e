"""Helpers shared by the test suites: builders, fakes, clocks, peers, paths.

Test modules import helpers from here and get fixtures from the ``conftest.py`` files;
no test module imports another test module or a conftest (``tests/test_layout.py``
checks that).
"""
