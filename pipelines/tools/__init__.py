"""Tools: the fleet simulator (with independent truth) and the benchmark."""
