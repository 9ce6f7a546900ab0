"""Part A notification-service: 'sends' (logs and records) a confirmation."""
