"""Part C: streaming with Kafka. A producer, an inventory consumer and an analytics consumer around an event log."""
