"""What the PyTorch reference scripts of bench/ read of their own process and of the machine,
from /proc: resident memory and the load average (Linux only)."""


def status_bytes(key):
    """The `key:  N kB` line of /proc/self/status in bytes (0 if absent)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def loadavg():
    """The 1-minute load average."""
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])
