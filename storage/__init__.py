"""Persistence only: the engine and sessions (``db``), the tables, one facade per entity
(``UserStore``, ``FeedStore``, ``ArticleStore``, ``ArticleTextStore``, ``DeliveryStore``,
``BroadcastStore``, ``LeaseStore``, ``ProcessedUpdateStore``, ``StatsStore``) and the Alembic
migrations. Imports nothing of ours.

Errors: one root, ``StorageError`` (``storage.errors``); SQLAlchemy's own errors never leave a
facade's public method (``raise … from e``, the driver's error kept in ``.orig``).
::

    StorageError
    ├── ConfigurationError      db.make_engine: DATABASE_URL is not a usable database
    ├── MigrationError          db.migrate: the schema could not be brought up to date
    └── QueryError              a statement failed (any other SQLAlchemyError)
        ├── ConflictError       IntegrityError: a key or constraint refused the row
        └── UnavailableError    OperationalError: locked, disk full, connection lost; retry later
"""
