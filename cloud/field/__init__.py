"""Field service: technicians, their calendars, asset sites, the skills failures need, and dispatch planning."""
