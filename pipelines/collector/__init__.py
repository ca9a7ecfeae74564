"""Collector: the HTTP endpoint instances POST pings to, and the ping-log writer."""
