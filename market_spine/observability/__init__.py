"""What the platform's processes count about themselves, for Prometheus."""
