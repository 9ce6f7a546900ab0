"""The live dashboard every part serves on port 6003: `board` (what a page shows, the sampler), `app` (the
service). Each part declares its page in its own `dashboard` module."""
