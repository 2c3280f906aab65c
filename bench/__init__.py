"""Benchmarks, evaluations and the chaos run: measurements of the apps, never part of them.

Run as ``manage.py bench <name>``, ``manage.py vision_eval``, ``manage.py fairness`` and
``manage.py chaos``. Nothing in an app imports this package; it may import any app.
"""
