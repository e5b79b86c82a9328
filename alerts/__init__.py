"""Everything that turns an alert into messages on people's phones (and the worker process)."""
