"""Short-lived, re-checked memories of agents, users and policies for the token path."""
