"""Part B's messaging core, shared by its three services: topology, message formats, the AMQP clients."""
