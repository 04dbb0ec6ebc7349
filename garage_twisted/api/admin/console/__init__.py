"""The operator console: static files under ``static/`` and the module
serving them at ``/`` of the admin endpoint (:mod:`.serve`)."""
