"""Part A order-service: takes an order, calls inventory then notification, blocking, and answers."""
