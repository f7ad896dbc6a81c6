"""monitor: an asynchronous feed-monitoring daemon."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("monitor")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+src"

USER_AGENT = f"monitor/{__version__} (+https://github.com/monitor-feeds/monitor)"
