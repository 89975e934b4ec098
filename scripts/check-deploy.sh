#!/usr/bin/env bash
# Validates the operator-facing files under deploy/ (see deploy/README.md):
#   a. promtool: check rules, unit-test the rules, check the compose Prometheus config;
#   b. every YAML / JSON file under deploy/ parses; docker-compose.yml validates against the
#      Compose Specification's JSON schema (check-jsonschema, from PyPI), has its services and
#      the files it mounts exist; the dashboard has its variables and panels; exemplars are
#      wired up: compose's Prometheus runs with --enable-feature=exemplar-storage, every
#      dashboard target on the latency buckets has "exemplar": true, and the Grafana Prometheus
#      data source sends exemplar trace_id values to a provisioned Jaeger data source;
#   c. builds axum-demo, runs it on a free loopback port beside a real Prometheus (1 s
#      scrapes and rule evaluations, deploy/prometheus/octopus.rules.yml loaded, exemplar
#      storage on as in docker-compose.yml), sends a known traffic mix, then runs every
#      PromQL expression of the Grafana dashboard (with its variables substituted) and every
#      recording rule, and fails on any empty result;
#   d. stops everything it started. Exits 0 only if every check passed.
# Runs from any directory:  bash scripts/check-deploy.sh
# It never skips: a missing prometheus / promtool is a failure (apt-get install -y prometheus).
# Docker is not needed and not used.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPLOY="$ROOT/deploy"
RULES="$DEPLOY/prometheus/octopus.rules.yml"
RULES_TEST="$DEPLOY/prometheus/octopus.rules.test.yml"
PROM_CONFIG="$DEPLOY/prometheus/prometheus.yml"
DASHBOARD="$DEPLOY/grafana/octopus-dashboard.json"
SERVICE_NAME="check-deploy.demo"
START_TIME=$SECONDS

say() { printf 'check-deploy: %s\n' "$*"; }
fail() {
    printf 'check-deploy: FAIL: %s\n' "$*" >&2
    exit 1
}
need() {
    command -v "$1" >/dev/null 2>&1 || fail "'$1' is not installed: $2"
}

need promtool "install the Debian package: apt-get install -y prometheus"
need prometheus "install the Debian package: apt-get install -y prometheus"
need python3 "python3 (with venv) is required to parse YAML / JSON and to query Prometheus"
need curl "apt-get install -y curl"
need cargo "the Rust toolchain is required to build the demo"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/check-deploy.XXXXXX")"
PIDS=()
cleanup() {
    local rc=$?
    local pid
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do
        # Give each process up to 5 s to exit, then kill it.
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ $rc -ne 0 && -d "$WORK" ]]; then
        for log in "$WORK"/*.log; do
            [[ -s "$log" ]] || continue
            printf -- '--- last lines of %s ---\n' "$(basename "$log")" >&2
            tail -n 15 "$log" >&2
        done
    fi
    rm -rf "$WORK"
    if [[ $rc -eq 0 ]]; then
        say "PASSED in $((SECONDS - START_TIME)) s"
    else
        printf 'check-deploy: FAILED (exit %s) after %s s\n' "$rc" "$((SECONDS - START_TIME))" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# --- a. promtool ------------------------------------------------------------------------
say "a. promtool ($(promtool --version 2>&1 | head -n 1))"
promtool check rules "$RULES" || fail "promtool check rules $RULES"
promtool test rules "$RULES_TEST" || fail "promtool test rules $RULES_TEST"
promtool check config "$PROM_CONFIG" || fail "promtool check config $PROM_CONFIG"

# --- b. YAML / JSON syntax and structure --------------------------------------------------
say "b. YAML / JSON syntax, compose file against the Compose Specification schema"
# A virtualenv of our own (kept in target/, reused by later runs) holds PyYAML and
# check-jsonschema, whose vendored copy of the official compose-spec schema validates
# docker-compose.yml the way `docker compose config` would, without a Docker engine.
VENV="$ROOT/target/check-deploy-venv"
if ! "$VENV/bin/python" -c 'import yaml' 2>/dev/null || [[ ! -x "$VENV/bin/check-jsonschema" ]]; then
    say "installing PyYAML and check-jsonschema into $VENV (PyPI)"
    python3 -m venv "$VENV" || fail "python3 -m venv failed (apt-get install -y python3-venv)"
    "$VENV/bin/python" -m pip install -q 'pyyaml==6.0.3' 'check-jsonschema==0.39.0' \
        || fail "could not install PyYAML and check-jsonschema from PyPI"
fi
"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$DEPLOY/docker-compose.yml" \
    || fail "deploy/docker-compose.yml does not follow the Compose Specification"
"$VENV/bin/python" - "$DEPLOY" <<'PY' || fail "YAML / JSON validation"
import json, os, shlex, sys
import yaml
from urllib.parse import urlsplit

deploy = sys.argv[1]
errors = []
parsed = {}
for dirpath, dirnames, filenames in os.walk(deploy):
    dirnames.sort()
    for name in sorted(filenames):
        path = os.path.join(dirpath, name)
        rel = os.path.relpath(path, deploy)
        try:
            if name.endswith((".yml", ".yaml")):
                with open(path) as f:
                    docs = list(yaml.safe_load_all(f))
                if not docs or docs[0] is None:
                    raise ValueError("empty YAML document")
                parsed[rel] = docs[0]
            elif name.endswith(".json"):
                with open(path) as f:
                    parsed[rel] = json.load(f)
            else:
                continue
            print(f"  ok    syntax  deploy/{rel}")
        except Exception as e:  # noqa: BLE001 - report every file
            errors.append(f"deploy/{rel}: {e}")

compose = parsed.get("docker-compose.yml")
if not isinstance(compose, dict):
    errors.append("deploy/docker-compose.yml: missing or not a mapping")
else:
    services = compose.get("services") or {}
    for svc in ("jaeger", "prometheus", "grafana", "service-a", "service-b"):
        if svc not in services:
            errors.append(f"deploy/docker-compose.yml: service {svc!r} missing")
    for svc_name, svc in services.items():
        for vol in (svc or {}).get("volumes", []) or []:
            src = vol.split(":", 1)[0] if isinstance(vol, str) else vol.get("source", "")
            if src.startswith("."):
                if not os.path.exists(os.path.join(deploy, src)):
                    errors.append(f"deploy/docker-compose.yml: {svc_name} mounts {src}, which does not exist")
        build = (svc or {}).get("build")
        if isinstance(build, dict):
            ctx = os.path.normpath(os.path.join(deploy, build.get("context", ".")))
            dockerfile = os.path.join(ctx, build.get("dockerfile", "Dockerfile"))
            if not os.path.isfile(dockerfile):
                errors.append(f"deploy/docker-compose.yml: {svc_name} builds {dockerfile}, which does not exist")
    print(f"  ok    compose services: {', '.join(sorted(services))}")
    # Prometheus keeps exemplars only with this feature flag (comma lists allowed).
    command = (services.get("prometheus") or {}).get("command") or []
    if isinstance(command, str):
        command = shlex.split(command)
    features = [f.strip() for arg in command if str(arg).startswith("--enable-feature=")
                for f in str(arg).split("=", 1)[1].split(",")]
    if "exemplar-storage" not in features:
        errors.append("deploy/docker-compose.yml: prometheus command lacks --enable-feature=exemplar-storage")
    else:
        print("  ok    compose prometheus: --enable-feature=exemplar-storage")

dash = parsed.get("grafana/octopus-dashboard.json")
if not isinstance(dash, dict):
    errors.append("deploy/grafana/octopus-dashboard.json: missing or not an object")
else:
    names = {v.get("name") for v in dash.get("templating", {}).get("list", [])}
    for var in ("service", "route"):
        if var not in names:
            errors.append(f"dashboard: template variable ${var} missing")
    types = set()
    def walk(panels):
        for p in panels:
            types.add(p.get("type"))
            walk(p.get("panels", []))
    walk(dash.get("panels", []))
    for t in ("timeseries", "heatmap"):
        if t not in types:
            errors.append(f"dashboard: no {t} panel")
    print(f"  ok    dashboard variables: {', '.join(sorted(n for n in names if n))}; panel types: {', '.join(sorted(t for t in types if t))}")
    # Every target reading the latency buckets asks Grafana for exemplars too.
    bucket = "http_server_request_duration_seconds_bucket"
    with_exemplars = []
    def walk_targets(panels):
        for p in panels:
            for t in p.get("targets", []) or []:
                if bucket in (t.get("expr") or ""):
                    where = f"panel {p.get('title')!r} [{t.get('refId', '?')}]"
                    if t.get("exemplar") is not True:
                        errors.append(f"dashboard: {where} queries {bucket} without \"exemplar\": true")
                    else:
                        with_exemplars.append(where)
            walk_targets(p.get("panels", []) or [])
    walk_targets(dash.get("panels", []))
    if not with_exemplars:
        errors.append(f"dashboard: no target queries {bucket} with \"exemplar\": true")
    else:
        print(f"  ok    dashboard exemplars on {len(with_exemplars)} {bucket} targets")

# Grafana data sources: the Prometheus one links exemplar trace ids to a provisioned Jaeger one.
datasources = []
for rel, doc in sorted(parsed.items()):
    if rel.startswith(os.path.join("grafana", "provisioning", "datasources") + os.sep):
        for ds in (doc.get("datasources") or []) if isinstance(doc, dict) else []:
            datasources.append((rel, ds or {}))
jaeger_uids = {ds.get("uid") for _, ds in datasources if ds.get("type") == "jaeger" and ds.get("uid")}
for rel, ds in datasources:
    if ds.get("type") == "jaeger" and isinstance(compose, dict):
        # The url is a compose service, on a port that service's container listens on.
        url = urlsplit(ds.get("url") or "")
        svc = (compose.get("services") or {}).get(url.hostname)
        container_ports = set()
        for port in (svc or {}).get("ports") or []:
            if isinstance(port, dict):  # long syntax
                container_ports.add(str(port.get("target")))
            else:  # "[ip:]host:container[/proto]" or "container"
                container_ports.add(str(port).split("/")[0].rsplit(":", 1)[-1])
        if svc is None:
            errors.append(f"deploy/{rel}: Jaeger data source url {ds.get('url')!r} is not a compose service")
        elif str(url.port) not in container_ports:
            errors.append(f"deploy/{rel}: Jaeger data source url {ds.get('url')!r}: port {url.port} is not "
                          f"one of the {url.hostname} service's ports ({', '.join(sorted(container_ports))})")
proms = [(rel, ds) for rel, ds in datasources if ds.get("type") == "prometheus"]
if not proms:
    errors.append("grafana provisioning: no data source of type prometheus")
for rel, ds in proms:
    dests = (ds.get("jsonData") or {}).get("exemplarTraceIdDestinations") or []
    trace = [d for d in dests if isinstance(d, dict) and d.get("name") == "trace_id"]
    if not trace:
        errors.append(f"deploy/{rel}: data source {ds.get('name')!r} has no exemplarTraceIdDestinations entry named trace_id")
    for d in trace:
        if d.get("datasourceUid") not in jaeger_uids:
            errors.append(f"deploy/{rel}: exemplar trace_id goes to datasourceUid {d.get('datasourceUid')!r}, "
                          f"not a provisioned jaeger data source (uids: {sorted(jaeger_uids)})")
        else:
            print(f"  ok    grafana {ds.get('name')}: exemplar trace_id opens jaeger data source uid {d['datasourceUid']!r}")

for e in errors:
    print(f"  FAIL  {e}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY

# --- c. live: demo + Prometheus + dashboard and rule queries ------------------------------
if [[ -n "${CHECK_DEPLOY_DEMO_BIN:-}" ]]; then
    # For local iteration only: use a demo binary built earlier instead of building.
    DEMO_BIN="$CHECK_DEPLOY_DEMO_BIN"
    say "c. using prebuilt demo CHECK_DEPLOY_DEMO_BIN=$DEMO_BIN (not building)"
else
    say "c. building axum-demo (cargo build -q -p octopus-examples --bin axum-demo)"
    (cd "$ROOT" && cargo build -q -p octopus-examples --bin axum-demo) \
        || fail "cargo build -p octopus-examples --bin axum-demo"
    TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
    [[ "$TARGET_DIR" = /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
    DEMO_BIN="$TARGET_DIR/debug/axum-demo"
fi
[[ -x "$DEMO_BIN" ]] || fail "demo binary not found at $DEMO_BIN"

DEMO_PORT="$(free_port)"
DEMO="127.0.0.1:$DEMO_PORT"
# Spans go to a UDP sink standing in for a Jaeger agent, so the span counters the dashboard
# shows exist and move (with no exporter they are not registered). A port nobody listens on
# would not do: the exporter's socket is connected, so the refusals count as failed exports.
python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
while True:
    s.recv(65535)' >"$WORK/agent.port" &
PIDS+=("$!")
for _ in $(seq 50); do [[ -s "$WORK/agent.port" ]] && break; sleep 0.1; done
AGENT_PORT="$(cat "$WORK/agent.port")"
[[ -n "$AGENT_PORT" ]] || fail "the UDP sink standing in for the Jaeger agent did not start"
OCTOPUS_ADDR="$DEMO" OTEL_SERVICE_NAME="$SERVICE_NAME" RUST_BACKTRACE=0 \
    OTEL_TRACES_EXPORTER=jaeger OTEL_EXPORTER_JAEGER_AGENT_HOST=127.0.0.1 \
    OTEL_EXPORTER_JAEGER_AGENT_PORT="$AGENT_PORT" OTEL_BSP_SCHEDULE_DELAY=200 \
    "$DEMO_BIN" >"$WORK/demo.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 300); do
    grep -q "listening on http://$DEMO" "$WORK/demo.log" 2>/dev/null && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || fail "axum-demo exited early (see demo.log below)"
    sleep 0.1
done
grep -q "listening on http://$DEMO" "$WORK/demo.log" || fail "axum-demo did not announce 'listening on http://$DEMO' within 30 s"
say "axum-demo listening on $DEMO (OTEL_SERVICE_NAME=$SERVICE_NAME, spans to a UDP sink on port $AGENT_PORT)"

PROM_PORT="$(free_port)"
PROM="http://127.0.0.1:$PROM_PORT"
cp "$RULES" "$WORK/octopus.rules.yml"
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files:
  - octopus.rules.yml
scrape_configs:
  - job_name: octopus-check
    static_configs:
      - targets: ['$DEMO']
EOF
promtool check config "$WORK/prometheus.yml" >/dev/null || fail "generated Prometheus config is invalid"
# Started as docker-compose.yml starts it: with exemplar storage.
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn \
    --enable-feature=exemplar-storage >"$WORK/prometheus.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 300); do
    curl -fsS "$PROM/-/ready" >/dev/null 2>&1 && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || fail "prometheus exited early (see prometheus.log below)"
    sleep 0.1
done
curl -fsS "$PROM/-/ready" >/dev/null 2>&1 || fail "prometheus not ready on $PROM within 30 s"
say "prometheus $(prometheus --version 2>&1 | head -n 1 | awk '{print $3}') ready on $PROM"
curl -fsS "$PROM/api/v1/status/flags" | python3 -c 'import json, sys
features = json.load(sys.stdin)["data"].get("enable-feature", "")
sys.exit(0 if "exemplar-storage" in features.split(",") else 1)' \
    || fail "prometheus on $PROM does not run with --enable-feature=exemplar-storage"
say "prometheus stores exemplars (--enable-feature=exemplar-storage)"

# Wait for the first successful scrape, so that the traffic below is seen growing.
for _ in $(seq 100); do
    curl -fsS "$PROM/api/v1/query" --data-urlencode 'query=up{job="octopus-check"} == 1' 2>/dev/null \
        | grep -q '"value"' && break
    sleep 0.2
done
curl -fsS "$PROM/api/v1/query" --data-urlencode 'query=up{job="octopus-check"} == 1' | grep -q '"value"' \
    || fail "prometheus did not scrape the demo at $DEMO/metrics within 20 s"

# Known traffic mix, spread over several scrapes: per round 5 x /hello (200), 1 x /fail (500),
# 2 x unmatched paths (404, route ""), 1 x /slow/200, 1 x /health (not counted); one /slow/1500
# stays in flight meanwhile. The checks at the end of the Python below expect these numbers.
say "sending traffic to $DEMO"
req() { curl -s -o /dev/null --max-time 10 "http://$DEMO$1" || fail "request $1 failed"; }
curl -s -o /dev/null --max-time 10 "http://$DEMO/slow/1500" &
SLOW_PID=$!
for round in 1 2 3 4 5 6; do
    for i in 1 2 3 4 5; do req "/hello/user$i"; done
    req /fail
    req "/no/such/path/$round"
    req /missing
    req /slow/200
    req /health
    sleep 1
done
wait "$SLOW_PID" || true
sleep 3

say "querying every dashboard expression and recording rule"
"$VENV/bin/python" - "$PROM" "$DASHBOARD" "$RULES" "$SERVICE_NAME" <<'PY'
import json, math, re, sys, time, urllib.parse, urllib.request
import yaml

prom, dashboard_path, rules_path, service = sys.argv[1:5]

def api(path, params=None):
    url = prom + path
    data = urllib.parse.urlencode(params or {}, doseq=True).encode() if params is not None else None
    with urllib.request.urlopen(url, data=data, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{path}: {body}")
    return body["data"]

# As Grafana does for a single-valued regex variable: escape regex metacharacters, then the
# backslashes for the PromQL string literal.
service_re = re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", service).replace("\\", "\\\\")
# Grafana variables -> values for this check (scrape interval 1 s, about 15 s of traffic).
substitutions = [
    (r"\$\{service(?::\w+)?\}|\[\[service\]\]|\$service\b", service_re),
    (r"\$\{route(?::\w+)?\}|\[\[route\]\]|\$route\b", ".*"),
    (r"\$\{__rate_interval\}|\$__rate_interval\b", "30s"),
    (r"\$\{__interval\}|\$__interval\b", "5s"),
    (r"\$\{__interval_ms\}|\$__interval_ms\b", "5000"),
    (r"\$\{__range\}|\$__range\b", "2m"),
    (r"\$\{__range_s\}|\$__range_s\b", "120"),
    (r"\$\{__range_ms\}|\$__range_ms\b", "120000"),
]
def substitute(expr):
    for pattern, value in substitutions:
        expr = re.sub(pattern, lambda _m, v=value: v, expr)
    return expr

def one_line(expr):
    return " ".join(expr.split())

def summarize(result):
    vals = []
    for s in result:
        try:
            vals.append(float(s["value"][1]))
        except (KeyError, ValueError):
            pass
    finite = [v for v in vals if not math.isnan(v)]
    if not finite:
        return "all NaN"
    return f"min {min(finite):.4g} max {max(finite):.4g}"

with open(dashboard_path) as f:
    dash = json.load(f)
checks = []  # (kind, name, expr)
for var in dash.get("templating", {}).get("list", []):
    if var.get("type") != "query":
        continue
    q = var.get("query")
    q = q.get("query") if isinstance(q, dict) else q
    checks.append(("variable", f"${var['name']}", q))
def walk(panels):
    for p in panels:
        for t in p.get("targets", []) or []:
            if t.get("expr"):
                checks.append(("panel", f"{p.get('title')} [{t.get('refId', '?')}]", t["expr"]))
        walk(p.get("panels", []) or [])
walk(dash.get("panels", []))

with open(rules_path) as f:
    rule_groups = yaml.safe_load(f)["groups"]
records = [r["record"] for g in rule_groups for r in g["rules"] if "record" in r]
alerts = [r["alert"] for g in rule_groups for r in g["rules"] if "alert" in r]
for rec in records:
    checks.append(("rule", rec, rec))

def run(kind, name, expr):
    """Returns (ok, detail)."""
    if kind == "variable":
        m = re.fullmatch(r"\s*label_values\(\s*(?:(.*?)\s*,\s*)?(\w+)\s*\)\s*", expr, re.S)
        if not m:
            return False, "unsupported variable query (expected label_values(...))"
        selector, label = m.group(1), m.group(2)
        params = {"match[]": substitute(selector)} if selector else {}
        values = api(f"/api/v1/label/{label}/values" + ("?" + urllib.parse.urlencode(params) if params else ""))
        if not values:
            return False, "no label values"
        return True, f"{len(values)} values: {', '.join(repr(v) for v in values[:6])}"
    q = substitute(expr)
    if "$" in q:
        return False, f"unsubstituted Grafana variable in: {one_line(q)}"
    result = api("/api/v1/query", {"query": q})["result"]
    if not result:
        return False, "empty result"
    summary = summarize(result)
    if summary == "all NaN":
        return False, f"{len(result)} series, all NaN"
    return True, f"{len(result)} series, {summary}"

# Poll until everything has data (rule evaluations lag scrapes by up to a second), then report.
deadline = time.time() + 20
while True:
    outcomes = []
    for kind, name, expr in checks:
        try:
            ok, detail = run(kind, name, expr)
        except Exception as e:  # bad PromQL: Prometheus answers 400 with the parse error
            msg = e.read().decode(errors="replace") if hasattr(e, "read") else str(e)
            ok, detail = False, f"query error: {msg}"
        outcomes.append((ok, kind, name, expr, detail))
    if all(o[0] for o in outcomes) or time.time() > deadline:
        break
    time.sleep(1)

failed = 0
for ok, kind, name, expr, detail in outcomes:
    status = "ok  " if ok else "FAIL"
    print(f"  {status}  {kind:8} {name}: {detail}  <- {one_line(substitute(expr))}")
    failed += not ok

# Every rule loaded and evaluates without error.
groups = api("/api/v1/rules")["groups"]
loaded = {r["name"]: r for g in groups for r in g["rules"]}
for name in records + alerts:
    r = loaded.get(name)
    if r is None:
        print(f"  FAIL  rule     {name}: not loaded by Prometheus")
        failed += 1
    elif r.get("health") != "ok":
        print(f"  FAIL  rule     {name}: health {r.get('health')}: {r.get('lastError')}")
        failed += 1
    elif r.get("type") == "alerting":
        print(f"  ok    alert    {name}: evaluates (health ok, state {r.get('state')})")

# The metrics themselves, against the known traffic mix sent above (6 rounds).
sel = f'service_name="{service}"'
def value_of(q):
    return {json.dumps(r["metric"], sort_keys=True): float(r["value"][1])
            for r in api("/api/v1/query", {"query": q})["result"]}
def expect(name, q, want, compare="=="):
    got = value_of(q)
    # Each query keeps one label: key the values by it.
    got_simple = {next(iter(json.loads(k).values()), ""): v for k, v in got.items()}
    if compare == "==":
        ok = got_simple == want
    else:  # ">=": every wanted key at least that value
        ok = all(got_simple.get(k, float("-inf")) >= v for k, v in want.items())
    return ok, name, q, f"want {compare} {want}, got {got_simple}"
traffic = [
    expect("requests by status code",
           f"sum by (http_response_status_code) (http_server_requests_total{{{sel}}})",
           {"200": 37.0, "404": 12.0, "500": 6.0}),
    expect("requests by route (404s have route \"\", /health is not counted)",
           f"sum by (http_route) (http_server_requests_total{{{sel}}})",
           {"/hello/{name}": 30.0, "/fail": 6.0, "": 12.0, "/slow/{ms}": 7.0}),
    expect("histogram _count by route equals the counter",
           f"sum by (http_route) (http_server_request_duration_seconds_count{{{sel}}})",
           {"/hello/{name}": 30.0, "/fail": 6.0, "": 12.0, "/slow/{ms}": 7.0}),
    # Lower bounds only are exact on a loaded machine: a 200 ms sleep is never under 100 ms,
    # the 1.5 s one never under 1 s; how much longer they take depends on the machine.
    expect("/slow/{ms} requests per latency bucket (6 x 200 ms, 1 x 1500 ms)",
           f'sum by (le) (http_server_request_duration_seconds_bucket{{{sel}, http_route="/slow/{{ms}}", le=~"0.1|10.0|\\\\+Inf"}})',
           {"0.1": 0.0, "10.0": 7.0, "+Inf": 7.0}),
    expect("the 1.5 s request is above the 1 s bucket",
           f'7 - sum(http_server_request_duration_seconds_bucket{{{sel}, http_route="/slow/{{ms}}", le="1.0"}})',
           {"": 1.0}, ">="),
    expect("active requests seen while /slow/1500 was in flight",
           f"max_over_time(sum by (http_route) (http_server_active_requests{{{sel}, http_route=\"/slow/{{ms}}\"}})[2m:1s])",
           {"/slow/{ms}": 1.0}, ">="),
    expect("no request in flight at the end",
           f"sum by (http_route) (http_server_active_requests{{{sel}}})",
           {"/hello/{name}": 0.0, "/fail": 0.0, "": 0.0, "/slow/{ms}": 0.0}),
]
for ok, name, q, detail in traffic:
    print(f"  {'ok  ' if ok else 'FAIL'}  traffic  {name}: {detail}")
    failed += not ok

# Exemplars: the demo traces every request, so its latency buckets must carry some (their
# content — trace ids the tracing backend received — is checked by a Rust end-to-end test).
try:
    now = time.time()
    found = api("/api/v1/query_exemplars", {
        "query": f"http_server_request_duration_seconds_bucket{{{sel}}} or http_server_requests_total{{{sel}}}",
        "start": f"{now - 600:.3f}", "end": f"{now:.3f}"})
    n = sum(len(s.get("exemplars") or []) for s in found)
    print(f"  {'ok  ' if n else 'FAIL'}  exemplars query_exemplars answers: {n} exemplars in {len(found)} series")
    failed += not n
except Exception as e:
    msg = e.read().decode(errors="replace") if hasattr(e, "read") else str(e)
    print(f"  FAIL  exemplars query_exemplars: {msg}")
    failed += 1

n_dash = sum(1 for c in checks if c[0] == "panel")
n_var = sum(1 for c in checks if c[0] == "variable")
print(f"  checked {n_dash} dashboard expressions, {n_var} variable queries, "
      f"{len(records)} recording rules, {len(alerts)} alerting rules, {len(traffic)} traffic checks: {failed} failed")
if failed:
    print(f"check-deploy: FAIL: {failed} check(s) failed (see FAIL lines above)", file=sys.stderr)
    sys.exit(1)
PY
