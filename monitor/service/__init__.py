"""The running service: build everything, start, run, shut down; systemd and the scheduler."""
