"""The service kernel the three parts' services share: ids, settings, logging, the web and HTTP-server helpers,
process, retry, SQLite, the stock core, idempotency, schemas, the menu, faults, metrics and the vocabulary.
The lab that drives the services is `labkit` (and each part's `lab` subpackage); nothing here imports it."""
