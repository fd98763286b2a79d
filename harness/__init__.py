"""harness: start fakeservers and balancers on ephemeral ports, drive them, check them.

Stdlib only (plus pytest for the plugin). See harness/process.py for the process model.
"""
from .process import Process, ProcessError, bin_path, repo_root

__all__ = ["Process", "ProcessError", "bin_path", "repo_root"]
