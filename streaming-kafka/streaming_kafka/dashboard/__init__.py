"""Part C's live dashboard (port 6003): orders by outcome (as the analytics consumer has read them), each consumer
group's lag (read by the producer from Kafka), events per second and the dead letters.
`python -m streaming_kafka.dashboard`."""
