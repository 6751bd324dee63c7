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


def _task_files(pid: int, name: str) -> list[str]:
    """The text of /proc/<pid>/task/<tid>/<name> for each live thread (gone ones skipped)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return []
    found = []
    for task in tasks:
        try:
            found.append((task / name).read_text())
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread exited while we looked
    return found


def tree(pid: int) -> list[int]:
    """`pid` and its live descendants: a bot's helper processes are part of its cost."""
    found = [pid]
    for parent in found:  # grows while it is walked: breadth first
        found += [int(c) for text in _task_files(parent, "children") for c in text.split()]
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process tree (live and exited threads), in clock ticks' precision."""
    total = 0
    for member in tree(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except FileNotFoundError:
            continue
        # The command name may contain spaces; fields after ')' are fixed.
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def thread_cpu_ns(pid: int) -> int:
    """Nanosecond CPU time (user + system) summed over the live threads of the process tree.

    /proc/<pid>/task/<tid>/schedstat is exact where /proc/<pid>/stat counts 10 ms ticks;
    threads that already exited are missing, so long windows use `cpu_seconds` instead.
    """
    return sum(
        int(text.split()[0]) for member in tree(pid) for text in _task_files(member, "schedstat")
    )


def memory_kb(pid: int) -> dict[str, int]:
    """VmHWM (peak resident set) and VmRSS in KiB, summed over the live process tree.

    A sum of peaks is at least the peak of the sum: helper processes are never undercounted.
    """
    found = {"VmHWM": 0, "VmRSS": 0}
    for member in tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except FileNotFoundError:
            continue
        for line in status.splitlines():
            key, _, value = line.partition(":")
            if key in found:
                found[key] += int(value.split()[0])
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
