"""The package version, in one place: read by the build (hatch) and at import, cheaply."""

__version__ = "0.1.0.dev0"
