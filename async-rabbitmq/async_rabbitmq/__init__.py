"""Part B: asynchronous messaging with RabbitMQ. Order, inventory and notification services around one broker."""
