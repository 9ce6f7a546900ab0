"""The native RabbitMQ node of Part B (Docker uses the official image instead)."""
