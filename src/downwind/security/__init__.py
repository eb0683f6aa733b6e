"""Security: password hashing, roles and their permissions (and, later, tokens and secret
encryption). Nothing here touches the metastore; the services use it."""
