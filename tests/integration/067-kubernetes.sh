#!/bin/bash
# contrib/kubernetes: the DaemonSet and the ConfigMap parse, and hold what a
# node agent for dedupd needs: privileged, the capabilities dedupd.service
# keeps, hostPath mounts of the image stores (read-write, HostToContainer)
# and of /var/lib/dedupd, the ConfigMap mounted where the command reads it,
# the socket the probes ask; the ConfigMap's dedupd.conf is one `dedupd
# watch` accepts (checked by starting it on a btrfs with the stores'
# mounts rewritten to it), and its watched stores are among the mounted
# ones. `kubectl kustomize` builds them when kubectl is there; `kubectl
# apply --dry-run=client` when a cluster answers.
. "$(dirname "$0")/lib.sh"
setup
python3 -c 'import yaml' 2>/dev/null || skip "needs python3-yaml"
K=$TOP/contrib/kubernetes

python3 - "$K" "$TOP/contrib/systemd/dedupd.service" "$TESTDIR/dedupd.conf" <<'PY' || _fail "the manifests lack what the DaemonSet needs"
import os, re, sys, yaml
k, unit, conf_out = sys.argv[1:]
docs = []
for f in sorted(os.listdir(k)):
    if f.endswith('.yaml') and f != 'kustomization.yaml':
        docs += [d for d in yaml.safe_load_all(open(os.path.join(k, f))) if d]
bad = []
kinds = {d['kind']: d for d in docs}
for want in ('Namespace', 'DaemonSet', 'ConfigMap'):
    if want not in kinds: bad.append(f"no {want}")
ds, cm = kinds['DaemonSet'], kinds['ConfigMap']
if ds['apiVersion'] != 'apps/v1': bad.append(f"DaemonSet apiVersion {ds['apiVersion']}")
ns = kinds['Namespace']['metadata']['name']
for d in (ds, cm):
    if d['metadata'].get('namespace') != ns: bad.append(f"{d['kind']} not in namespace {ns}")
spec = ds['spec']
if spec['selector']['matchLabels'].items() - spec['template']['metadata']['labels'].items():
    bad.append("the selector does not match the pod's labels")
pod = spec['template']['spec']
if pod.get('hostNetwork') or pod.get('hostPID'): bad.append("host network or PID namespace")
if not any(t.get('operator') == 'Exists' for t in pod.get('tolerations', [])):
    bad.append("not tolerating taints (a node agent)")
if pod.get('terminationGracePeriodSeconds', 30) < 60:
    bad.append("less than the unit's 60 s to checkpoint on SIGTERM")
(c,) = pod['containers']
sc = c['securityContext']
if sc.get('privileged') is not True: bad.append("not privileged")
# The capabilities dedupd.service keeps, no more.
m = re.search(r'^CapabilityBoundingSet=(.*)$', open(unit).read(), re.M)
caps = {x.removeprefix('CAP_') for x in m[1].split()}
if set(sc['capabilities']['add']) != caps:
    bad.append(f"capabilities {sc['capabilities']['add']}, the unit's {sorted(caps)}")
if c['command'][:2] != ['/usr/sbin/dedupd', 'watch']: bad.append(f"command {c['command']}")
vols = {v['name']: v for v in pod['volumes']}
mounts = {m['mountPath']: m for m in c['volumeMounts']}
def host(path):
    m = mounts.get(path)
    return m and vols[m['name']].get('hostPath', {}).get('path')
if host('/var/lib/dedupd') != '/var/lib/dedupd': bad.append("no hostPath /var/lib/dedupd")
if mounts.get('/var/lib/dedupd', {}).get('readOnly'): bad.append("/var/lib/dedupd read-only")
stores = ['/var/lib/containerd', '/var/lib/containers/storage']
for s in stores:
    if host(s) != s: bad.append(f"no hostPath {s} at the same path")
    elif mounts[s].get('readOnly'): bad.append(f"{s} read-only: FIDEDUPERANGE fails with EROFS")
    elif mounts[s].get('mountPropagation') != 'HostToContainer':
        bad.append(f"{s}: propagation {mounts[s].get('mountPropagation')}")
# The configuration: the ConfigMap, where --config reads it.
cfg = c['command'][c['command'].index('--config') + 1]
cm_mount = mounts.get(os.path.dirname(cfg))
if not cm_mount or vols[cm_mount['name']].get('configMap', {}).get('name') != cm['metadata']['name']:
    bad.append(f"{cfg} is not the ConfigMap {cm['metadata']['name']}")
conf = cm['data'].get(os.path.basename(cfg))
if conf is None: bad.append(f"the ConfigMap has no {os.path.basename(cfg)}")
else:
    watched = re.findall(r'^\s*mount\s*=\s*(\S+)', conf, re.M)
    if not watched: bad.append("the ConfigMap watches nothing")
    for w in watched:
        if w not in stores: bad.append(f"the ConfigMap watches {w}, which is not mounted")
    open(conf_out, 'w').write(conf)
# The probes ask the daemon on its socket, in a volume of the pod.
for p in ('readinessProbe', 'livenessProbe'):
    cmd = c.get(p, {}).get('exec', {}).get('command', [])
    if cmd[:2] != ['/usr/sbin/dedupd', 'status']: bad.append(f"{p}: {cmd}")
    sock = cmd[cmd.index('--socket') + 1] if '--socket' in cmd else '/run/dedupd/dedupd.sock'
    if os.path.dirname(sock) not in mounts: bad.append(f"{p}: {sock} is not in a volume")
for b in bad: print("kubernetes:", b, file=sys.stderr)
print(f"   {len(docs)} objects: {sorted(kinds)}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
log "the DaemonSet and the ConfigMap have what they need"

# The ConfigMap's dedupd.conf starts the daemon (its stores moved to a
# btrfs of ours, settle shortened, no load limit on this shared machine):
# the options are ones dedupd watch takes.
setup_fs btrfs
rand_file "$TESTDIR/A" 1024
copy_plain "$TESTDIR/A" "$MNT/a1"
copy_plain "$TESTDIR/A" "$MNT/a2"
manifest >"$TESTDIR/before"
sed -e "s|^\([[:space:]]*mount[[:space:]]*=[[:space:]]*\).*|\1$MNT|" \
	-e 's/^settle = .*/settle = 1/' -e 's/^loadavg-target = .*/loadavg-target = 0/' \
	"$TESTDIR/dedupd.conf" >"$TESTDIR/test.conf"
WATCH_CONF_SETTLE=1
watch_start --config "$TESTDIR/test.conf"
watch_wait_idle
check_eq "$(shared_bytes "$MNT/a1" "$MNT/a2")" $((2 * MiB)) "shared bytes with the ConfigMap's settings"
watch_stop
check_manifest "$TESTDIR/before"

if command -v kubectl >/dev/null; then
	out=$(kubectl kustomize "$K" 2>&1 3>&-) || _fail "kubectl kustomize: $out"
	check_eq "$(grep -c '^kind: ' <<<"$out")" 3 "objects kubectl kustomize builds"
	if timeout 10 kubectl version >/dev/null 2>&1 3>&-; then
		run_check kubectl apply --dry-run=client -k "$K"
	else
		log "no cluster answers: kubectl apply --dry-run=client not run (it needs the API's discovery)"
	fi
else
	log "no kubectl: kustomize and dry-run not run"
fi
