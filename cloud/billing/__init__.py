"""Product as a service: contracts and their plans, metering for billing, statements (cloud.billing.*)."""
