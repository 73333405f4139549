"""Evidence under load: real servers, real PostgreSQL, faults and hostile input (see README.md)."""
