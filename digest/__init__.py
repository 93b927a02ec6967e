"""The news domain: catalog, fetch, parse, normalise, cluster, related, select, schedule,
full story. Knows nothing of Telegram; reaches the database only through ``storage`` facades.

Errors: one root per package, so a caller catches everything the domain raises in one clause.
::

    DigestError                      digest.errors
    ├── CatalogError                 digest.catalog      the catalog TOML is unusable
    ├── BlockedURLError              digest.errors       a feed-supplied URL is not public or safe
    │   └── UnresolvableHostError    digest.urlguard     its host does not resolve
    ├── FetchError                   digest.errors       a fetch failed; ``kind`` says how
    ├── FeedParseError               digest.errors       the body is not a feed
    └── ExtractionError              digest.errors       no article text in the page

Database trouble is not wrapped again: it reaches the caller as ``storage.errors.StorageError``
(the storage package's root, drawn in ``storage/__init__.py``), so a boundary that must survive
both catches ``(DigestError, StorageError)``.
"""
