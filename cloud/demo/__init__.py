"""The one-command demo: broker, cloud service and a simulated fleet, with a summary."""
