"""The database adapter (all I/O): RDS Postgres through pg8000, or the embedded SQLite.

- :mod:`.engine`: one engine per URL per container;
- :mod:`.schema`: table definitions, the platform's own and those the contract shapes;
- :mod:`.migrations`: schema migrations, applied in order;
- :mod:`.bulk`: frames loaded (COPY on Postgres) and read in bulk;
- :mod:`.batched`: statements over many keys, in chunks under the drivers' limits.
"""
