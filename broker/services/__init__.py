"""The service layer: everything a route does, in one transaction, with its grant-log record."""
