"""The PromQL of deploy/grafana/sllmp.json, made parseable, for the /metrics tests (standard
library only). A test can send every expression to a real Prometheus (prom.py) so a typo fails
there, and check that every metric family /metrics exposes is on some panel:

    exprs = dashboard_exprs(DASHBOARD)                 # panels and templating, substituted
    for e in exprs: prom.query(e)                      # raises on a parse error
    used = set().union(*(metric_names(e) for e in dashboard_exprs(DASHBOARD, templating=False)))
    assert not set(FAMILIES) - used

    python3 check_dashboard.py [path]                  # prints them, and families not on a panel
"""

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DASHBOARD = os.path.abspath(os.path.join(HERE, "..", "..", "deploy", "grafana", "sllmp.json"))

# The families GET /metrics exposes (the names before _bucket/_sum/_count).
FAMILIES = (
    "sllmp_requests_total", "sllmp_request_duration_seconds",
    "sllmp_time_to_first_token_seconds", "sllmp_overhead_seconds", "sllmp_tokens_total",
    "sllmp_cost_usd_total", "sllmp_key_requests_total", "sllmp_key_tokens_total",
    "sllmp_key_cost_usd_total", "sllmp_active_requests", "sllmp_errors_total",
    "sllmp_limit_rejections_total", "sllmp_upstream_retries_total", "sllmp_spool_records",
    "sllmp_spool_dropped_total", "sllmp_processes", "sllmp_build_info",
)

# Grafana's built-in variables, as values that PromQL parses where Grafana would put them
# (durations in range selectors, numbers in arithmetic).
BUILTINS = {
    "__rate_interval": "1m", "__interval": "1m", "__range": "1h",
    "__interval_ms": "60000", "__range_ms": "3600000", "__range_s": "3600",
}

# $name, ${name}, ${name:format}, [[name]] and [[name:format]]
_VAR = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")
_METRIC = re.compile(r"(?<![\w:])sllmp_[A-Za-z0-9_:]*[A-Za-z0-9_]")
_LABEL_VALUES = re.compile(r"^\s*label_values\s*\((.*),\s*[A-Za-z_]\w*\s*\)\s*$", re.S)
_QUERY_RESULT = re.compile(r"^\s*query_result\s*\((.*)\)\s*$", re.S)


def load(path=DASHBOARD):
    with open(path) as f:
        return json.load(f)


def iter_panels(panels):
    """Every panel, also those inside rows (a collapsed row keeps its panels in "panels")."""
    for p in panels or ():
        yield p
        yield from iter_panels(p.get("panels"))


def _all_panels(dash):
    yield from iter_panels(dash.get("panels"))
    for r in dash.get("rows") or ():          # the pre-5.0 layout, for completeness
        yield from iter_panels(r.get("panels"))


def panel_raw_exprs(dash):
    """The expr of every non-hidden query of every panel, as written (with variables)."""
    out = []
    for p in _all_panels(dash):
        for t in p.get("targets") or ():
            if t.get("expr") and not t.get("hide"):
                out.append(t["expr"])
    return out


def _variable_promql(query):
    """The PromQL in a query variable's query: the selector of label_values(selector, label),
    the expression of query_result(expr); None for label_values(label), metrics(...) and
    other non-PromQL helpers."""
    if isinstance(query, dict):
        query = query.get("query", "")
    if not isinstance(query, str) or not query.strip():
        return None
    m = _LABEL_VALUES.match(query)
    if m:
        return m.group(1)
    m = _QUERY_RESULT.match(query)
    if m:
        return m.group(1)
    if re.match(r"^\s*(label_values|label_names|metrics)\s*\(", query):
        return None
    return query


def templating_raw_exprs(dash):
    """The PromQL of the dashboard's query variables (datasource/custom/interval ones have
    none)."""
    out = []
    for v in (dash.get("templating") or {}).get("list") or ():
        if v.get("type") == "query":
            e = _variable_promql(v.get("query"))
            if e:
                out.append(e)
    return out


def substitute(expr, variables=()):
    """expr with Grafana's variables replaced by what PromQL parses: the built-ins by a
    duration or number (BUILTINS), the dashboard's own variables by ".*" (they sit in
    =~"$model" matchers). Unknown variables stay, so the query fails and shows them."""
    names = set(variables)

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in BUILTINS:
            return BUILTINS[name]
        if name in names:
            return ".*"
        return m.group(0)
    return _VAR.sub(repl, expr)


def variable_names(dash):
    return [v.get("name") for v in (dash.get("templating") or {}).get("list") or ()
            if v.get("name")]


def dashboard_exprs(path=DASHBOARD, templating=True):
    """Every PromQL expression of the dashboard (panels, nested rows and, with `templating`,
    the query variables), with the variables substituted (see substitute())."""
    dash = load(path)
    raw = panel_raw_exprs(dash) + (templating_raw_exprs(dash) if templating else [])
    names = variable_names(dash)
    return [substitute(e, names) for e in raw]


def metric_names(expr):
    """The sllmp_ metric families an expression reads: _bucket/_sum/_count stripped."""
    out = set()
    for name in _METRIC.findall(expr):
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix):
                name = name[:-len(suffix)]
                break
        out.add(name)
    return out


def missing_families(path=DASHBOARD):
    """FAMILIES that no panel reads (the templating does not count)."""
    used = set()
    for e in dashboard_exprs(path, templating=False):
        used |= metric_names(e)
    return sorted(set(FAMILIES) - used)


def main(argv):
    path = argv[1] if len(argv) > 1 else DASHBOARD
    for e in dashboard_exprs(path):
        print(e.replace("\n", " "))
    missing = missing_families(path)
    print("families on no panel: %s" % (", ".join(missing) or "none"))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
