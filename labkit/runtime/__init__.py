"""The native runtime: each part's services run as local processes under supervisord, controlled like `docker compose`."""
