"""Always a human: a customer asks for a person, a planner answers; and the trust metrics planners watch."""
