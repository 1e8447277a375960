"""Authentication: tokens for firmware 7+, digest credentials for legacy firmware."""
