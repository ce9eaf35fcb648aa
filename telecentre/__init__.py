"""The core both sides of the system import: the wire protocol and config loading."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("telecentre")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
