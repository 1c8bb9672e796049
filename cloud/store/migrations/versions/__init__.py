"""One module per schema revision, named `NNNN_what_it_does.py`; Alembic finds them by path, nobody imports them."""
