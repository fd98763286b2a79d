"""harness: start fakeservers and balancers on ephemeral ports, drive them, check them.

Stdlib only (plus pytest for the plugin). See harness/README.md: processes in
harness/process.py, clusters in harness/cluster.py, traffic and the invariant in
harness/traffic.py, answers on the wire in harness/wire.py, deadlines in harness/timing.py,
fixtures in harness/plugin.py.
"""
from .timing import scaled, timeout_scale, under_valgrind, wait_for
from .process import Process, ProcessError, bin_path, repo_root
from .ports import free_port
from .wire import ERROR_500, Answer, AnswerReader, Cut, fetch, request_bytes
from .cluster import (Backend, Balancer, Cluster, ControlError, ControlUnavailable,
                      backend_entry, http_request, is_up, port_accepts,
                      shares_per_interval)
from .recorder import RecordingBackend
from .traffic import (DOCUMENTED_ERRORS, Report, Request, Result, Traffic, Workload,
                      check, default_files, make_body, parse_course_log, parse_course_logs)

__all__ = ["scaled", "timeout_scale", "under_valgrind", "wait_for",
           "Process", "ProcessError", "bin_path", "repo_root", "free_port",
           "ERROR_500", "Answer", "AnswerReader", "Cut", "fetch", "request_bytes",
           "Backend", "Balancer", "Cluster", "ControlError",
           "ControlUnavailable", "backend_entry", "http_request", "is_up", "port_accepts",
           "shares_per_interval",
           "RecordingBackend",
           "DOCUMENTED_ERRORS", "Report", "Request", "Result", "Traffic", "Workload", "check",
           "default_files", "make_body", "parse_course_log", "parse_course_logs"]
