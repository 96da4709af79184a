"""Data layer of the credit cockpit: engine, schema, marts, scoped queries, demo bank.

Nothing in this package imports streamlit; pages call it through small,
typed functions that take a SQLAlchemy ``Connection`` and, for any row-level
read, the caller's :class:`data_access.scope.Scope`.
"""
