"""What one sandboxed run may use; bad values are rejected with a message naming them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0  # wall clock, enforced by the parent: the whole run is killed at it
    cpu_s: float | None = None  # CPU seconds (RLIMIT_CPU); None: the wall timeout, rounded up
    memory_mb: int = 1024  # address space (RLIMIT_AS) of every process of the run
    file_size_mb: int = 16  # largest file the run may write (RLIMIT_FSIZE)
    processes: int = 64  # processes and threads of the run's user at once (RLIMIT_NPROC)
    output_kb: int = 64  # kept of stdout and of stderr each; the rest is dropped (and counted)
    max_output_mb: int = 64  # a run that writes more than this to stdout and stderr is killed

    def __post_init__(self) -> None:
        checks = [
            (self.timeout_s > 0, f"timeout must be positive, got {self.timeout_s} s"),
            (self.cpu_s is None or self.cpu_s > 0, f"the CPU limit must be positive, got {self.cpu_s} s"),
            (self.memory_mb >= 64, f"the memory limit must be at least 64 MB (Python needs ~20), got {self.memory_mb}"),
            (self.file_size_mb >= 1, f"the file size limit must be at least 1 MB, got {self.file_size_mb}"),
            (self.processes >= 1, f"the process limit must be at least 1, got {self.processes}"),
            (self.output_kb >= 1, f"output_kb must be at least 1, got {self.output_kb}"),
            (self.max_output_mb * 1024 >= self.output_kb, "max_output_mb must be at least output_kb"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def cpu_seconds(self) -> int:
        """RLIMIT_CPU counts whole seconds."""
        return max(1, int(-(-(self.cpu_s if self.cpu_s is not None else self.timeout_s) // 1)))
