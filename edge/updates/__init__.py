"""Over-the-air model and configuration updates: desired state, download, verification, swap and rollback."""
