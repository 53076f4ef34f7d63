"""CSV in and out of any object of any record-hosting service: import jobs (upload in chunks,
processing in batches by a timer, resumable, per-row errors) and paged exports.

A service takes this piece by composing :class:`mosaic.imports.service.ImportsService` into its
nameko class and setting ``imports=True`` in its ``ServiceSpec``; what is special about its
objects (match keys, fuzzy look-alikes, rows an insert adds) comes from their ``Behaviour``.
"""
