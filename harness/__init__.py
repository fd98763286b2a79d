"""harness: start fakeservers and balancers on ephemeral ports, drive them, check them.

Stdlib only (plus pytest for the plugin). See harness/README.md; the process model is in
harness/process.py, clusters in harness/cluster.py, traffic and the invariant in
harness/traffic.py, fixtures in harness/plugin.py.
"""
from .process import Process, ProcessError, bin_path, repo_root, scaled, timeout_scale
from .cluster import (PYFAKE, PYPROXY, Backend, Balancer, Cluster, ControlError,
                      ControlUnavailable, backend_entry,
                      http_request, is_up, port_accepts, wait_for)
from .recorder import RecordingBackend
from .wire import ERROR_500, Answer, AnswerReader, Cut, fetch, request_bytes
from .traffic import (DOCUMENTED_ERRORS, Report, Request, Result, Traffic, Workload,
                      check, default_files, make_body, parse_course_log, parse_course_logs)

__all__ = ["Process", "ProcessError", "bin_path", "repo_root", "scaled", "timeout_scale",
           "PYFAKE", "PYPROXY", "Backend", "Balancer", "Cluster", "ControlError", "ControlUnavailable",
           "backend_entry", "http_request", "is_up", "port_accepts", "wait_for",
           "DOCUMENTED_ERRORS", "ERROR_500", "Report", "Request", "Result", "Traffic",
           "Workload", "check", "default_files", "make_body", "parse_course_log",
           "parse_course_logs", "RecordingBackend"]
