"""Device security: a development PKI, per-device broker credentials with ACLs, provisioning and rotation."""
