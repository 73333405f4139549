"""The inbox's integrations: `SqlInbox` (``inbox.sql``) and the embedded worker (``inbox.worker``).

The inbox protocol, `MemoryInbox` and the processor (``process``, ``process_async``, ``sweep``,
``RetryPolicy``) are in the core; the modules here need SQLAlchemy or run threads, and are
imported only by those who use them.
"""
