"""Part A inventory-service: reserves stock over HTTP through the common stock core."""
