"""Part B's live dashboard (port 6003): orders by status, the queue depths (read by the order service from the
broker's management API), the outbox backlog and the dead letters. `python -m async_rabbitmq.dashboard`."""
