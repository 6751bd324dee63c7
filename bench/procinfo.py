"""Read another process's CPU time and memory from /proc, and describe this machine."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LIBRARIES = (
    "python-telegram-bot",
    "google-genai",
    "aiohttp",
    "httpx",
    "httpcore",
    "pydantic",
    "pillow",
    "pillow-heif",
)


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (live and exited threads), in clock ticks' precision."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name may contain spaces; fields after ')' are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def thread_cpu_ns(pid: int) -> int:
    """Nanosecond CPU time (user + system) summed over the process's live threads.

    /proc/<pid>/task/<tid>/schedstat is exact where /proc/<pid>/stat counts 10 ms ticks;
    threads that already exited are missing, so long windows use `cpu_seconds` instead.
    """
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread exited while we looked
    return total


def memory_kb(pid: int) -> dict[str, int]:
    """VmHWM (peak resident set) and VmRSS of a live process, in KiB."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0])
    return found


@dataclass(frozen=True, slots=True)
class Machine:
    """What the numbers were measured on."""

    cpu_model: str
    cores: int
    memory_gib: float
    python: str
    kernel: str
    libraries: dict[str, str]
    commit: str


def describe_machine(repo: Path) -> Machine:
    """Cores, memory, Python, kernel, library versions and the git commit."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.partition(":")[2].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "-"
    return Machine(
        cpu_model=model,
        cores=os.cpu_count() or 0,
        memory_gib=mem_kb / 1024 / 1024,
        python=platform.python_version(),
        kernel=platform.release(),
        libraries=versions,
        commit=_git_commit(repo),
    )


def _git_commit(repo: Path) -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' (with uncommitted changes)' if dirty else ''}"
