"""Many hosts at once: choosing them, running one session per host, and showing their output."""
