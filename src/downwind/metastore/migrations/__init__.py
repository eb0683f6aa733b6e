"""downwind's Alembic migrations, run by :mod:`downwind.metastore.migrate` (``downwind db
migrate``); no ``alembic.ini`` is needed. Each schema change is one numbered file in
``versions/`` (``0001_initial.py``, ``0002_...``)."""
