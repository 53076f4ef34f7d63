"""Benchmarks of Mosaic CRM: each prints its figure beside a baseline measured in the same run, the
ratio of the two and the target it is held to, and writes ``bench/results/<name>.json``.

Run all of them with ``python -m bench`` (``make bench``), or one with ``python -m bench <name>``;
``docs/benchmarks.md`` says what each one measures and lists the figures measured so far.
"""
