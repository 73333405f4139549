"""Idempotency store backends beyond the in-process `MemoryStore` (each needs its extra)."""
