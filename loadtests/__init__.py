"""Locust load tests (run with `locust -f loadtests/locustfile.py`); see locustfile.py."""
