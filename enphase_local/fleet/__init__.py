"""Many sites: readings and their idempotency keys (:mod:`~enphase_local.fleet.records`),
sharding a gateway list between pollers (:mod:`~enphase_local.fleet.shard`), and the central
ingestion from MQTT into PostgreSQL (:mod:`~enphase_local.fleet.ingest`, ``postgres`` and
``mqtt`` extras)."""
