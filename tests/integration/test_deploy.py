"""What operators deploy: the Debian package, the Kubernetes manifest and
the Prometheus alert rules.

The package is built with cpack from the build under test, unpacked with
dpkg -x into a temporary root, and its installed binaries are run. The
manifest is checked for the wiring that makes the sidecar work (kubectl's
client-side dry run still asks an API server for discovery, so it cannot
run here; see docs/operations.md), and the INI it ships is validated by
the real daemon.
"""

import os
import re
import subprocess
import sys

try:
    import yaml
except ImportError:
    # CI's python3 may be another interpreter than Debian's, which has
    # python3-yaml (scripts/setup.sh installs it): run there instead.
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

import harness

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MANIFEST = os.path.join(SRC, "config", "kubernetes", "podpulse.yaml")


def run(*args, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=300, **kw)
    assert r.returncode == 0, "%s: exit %d\n%s%s" % (args, r.returncode, r.stdout, r.stderr)
    return r.stdout


def build_dir():
    return os.path.dirname(harness.ARGS.podpulse)


def test_deb_package_installs_and_runs(workdir):
    out = os.path.join(workdir, "pkg")
    run("cpack", "-G", "DEB", "-B", out, cwd=build_dir())
    debs = [f for f in os.listdir(out) if f.endswith(".deb")]
    assert len(debs) == 1, debs
    deb = os.path.join(out, debs[0])

    fields = run("dpkg-deb", "-f", deb, "Package", "Version", "Depends")
    assert "Package: podpulse" in fields
    version = re.search(r"Version: (\S+)", fields).group(1)
    # Dependencies come from what the binary links, not from a hand list.
    for lib in ("libuv1", "libcjson1", "libinih1", "libc6"):
        assert lib in fields, fields
    # The configuration is a conffile: upgrades keep the operator's edits.
    assert run("dpkg-deb", "-I", deb, "conffiles").strip() == "/etc/podpulse/podpulse.ini"

    root = os.path.join(workdir, "root")
    run("dpkg-deb", "-x", deb, root)
    podpulse = os.path.join(root, "usr", "bin", "podpulse")
    ini = os.path.join(root, "etc", "podpulse", "podpulse.ini")
    for f in (podpulse, os.path.join(root, "usr", "bin", "podpulse-cli"), ini,
              os.path.join(root, "usr", "include", "podpulse", "protocol.h"),
              os.path.join(root, "usr", "share", "doc", "podpulse", "configuration.md")):
        assert os.path.exists(f), f
    assert run(podpulse, "--version").strip() == "podpulse " + version
    check_client_library(workdir, root)
    # The installed default configuration is valid as shipped.
    checked = run(podpulse, "--check-config", "-c", ini)
    assert "[socket]" in checked and "path = /run/podpulse/podpulse.sock" in checked, checked


CLIENT_PROGRAM = r"""
#include <errno.h>
#include <stdio.h>
#include <podpulse/client.h>
#include <podpulse/protocol.h>

int
main(int argc, char **argv)
{
	const char *attrs[] = { "model=m", NULL };
	struct pp_client_stats st;
	pp_client *c = pp_client_new(argv[1], NULL);

	if (c == NULL || pp_start(c, "p-1", attrs) != 0 ||
	    pp_stop(c, "p-1", "bogus", NULL) != -EINVAL ||
	    pp_client_stats(c, &st) != 0)
		return 1;
	printf("protocol %d dropped %llu\n", PODPULSE_PROTOCOL_VERSION,
	    (unsigned long long)st.dropped);
	pp_client_free(c);
	return 0;
}
"""


def check_client_library(workdir, root):
    """A model server builds against the installed client through pkg-config."""
    pcdir = os.path.join(root, "usr", "lib", "pkgconfig")
    assert os.path.exists(os.path.join(pcdir, "podpulse-client.pc")), os.listdir(root + "/usr/lib")
    env = dict(os.environ, PKG_CONFIG_PATH=pcdir, PKG_CONFIG_LIBDIR=pcdir)
    flags = run("pkg-config", "--cflags", "--libs", "podpulse-client", env=env).split()
    # The .pc file is relocatable: its paths lead into the unpacked root.
    incdir = os.path.join(root, "usr", "include")
    assert any(f.startswith("-I") and os.path.samefile(f[2:], incdir) for f in flags), flags
    src = os.path.join(workdir, "client.c")
    with open(src, "w") as f:
        f.write(CLIENT_PROGRAM)
    exe = os.path.join(workdir, "client")
    # A sanitizer build packages an instrumented library: link the same way.
    with open(os.path.join(build_dir(), "CMakeCache.txt")) as f:
        sanitized = "PODPULSE_SANITIZE:BOOL=ON" in f.read()
    san = ["-fsanitize=address,undefined"] if sanitized else []
    run("cc", "-Wall", "-Werror", *san, "-o", exe, src, *flags)
    libdir = os.path.join(root, "usr", "lib")
    # No daemon at that path: the calls return at once, the start is dropped.
    out = run(exe, os.path.join(workdir, "nobody.sock"), env=dict(os.environ, LD_LIBRARY_PATH=libdir))
    assert out.strip() == "protocol 1 dropped 2", out


def load_manifest():
    with open(MANIFEST) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    return by_kind


def ini_value(text, section, key):
    current = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and "=" in line and not line.startswith(("#", ";")):
            k, v = (s.strip() for s in line.split("=", 1))
            if k == key:
                return v
    return None


def mount_of(container, volume):
    for m in container.get("volumeMounts", []):
        if m["name"] == volume:
            return m["mountPath"]
    return None


def test_kubernetes_manifest_wiring(workdir):
    kinds = load_manifest()
    (cm,) = kinds["ConfigMap"]
    (secret,) = kinds["Secret"]
    (dep,) = kinds["Deployment"]
    ini = cm["data"]["podpulse.ini"]
    spec = dep["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}

    # podpulse is a native sidecar: an init container that keeps running.
    (sidecar,) = [c for c in spec["initContainers"] if c["name"] == "podpulse"]
    assert sidecar["restartPolicy"] == "Always"
    (model,) = spec["containers"]

    # The socket lives on an emptyDir both containers mount, at the path
    # the INI names and the model server's client is told.
    sock = ini_value(ini, "socket", "path")
    sock_vol = [n for n, v in volumes.items() if "emptyDir" in v
                and mount_of(sidecar, n) and mount_of(model, n)]
    assert len(sock_vol) == 1, sock_vol
    assert os.path.dirname(sock) == mount_of(sidecar, sock_vol[0])
    assert os.path.dirname(sock) == mount_of(model, sock_vol[0])
    model_env = {e["name"]: e.get("value") for e in model.get("env", [])}
    assert model_env.get("PODPULSE_SOCKET_PATH") == sock
    # Different users share the 0660 socket through fsGroup.
    assert spec["securityContext"]["fsGroup"] == sidecar["securityContext"]["runAsGroup"]
    assert ini_value(ini, "socket", "mode") == "0660"

    # The spool is its own emptyDir, mounted where the INI points.
    spool = ini_value(ini, "report", "spool_dir")
    spool_vols = [n for n, v in volumes.items() if "emptyDir" in v and mount_of(sidecar, n) == spool]
    assert spool_vols and spool_vols[0] not in sock_vol

    # The token is the Secret mounted as a file (rotation is picked up).
    token_file = ini_value(ini, "report", "auth_token_file")
    secret_vols = [n for n, v in volumes.items()
                   if v.get("secret", {}).get("secretName") == secret["metadata"]["name"]]
    assert len(secret_vols) == 1
    assert os.path.dirname(token_file) == mount_of(sidecar, secret_vols[0])
    assert os.path.basename(token_file) in secret["stringData"]
    # The INI comes from the ConfigMap, at the path the daemon is given.
    cfg_vols = [n for n, v in volumes.items()
                if v.get("configMap", {}).get("name") == cm["metadata"]["name"]]
    assert len(cfg_vols) == 1
    args = sidecar["args"]
    assert args[args.index("-c") + 1] == os.path.join(mount_of(sidecar, cfg_vols[0]), "podpulse.ini")

    # The downward API fills the identity.
    env = {e["name"]: e for e in sidecar["env"]}
    for name, path in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace"),
                       ("NODE_NAME", "spec.nodeName")):
        assert env[name]["valueFrom"]["fieldRef"]["fieldPath"] == path
    for name in ("DIRECTOR_REPORT_INSTANCE_STATE_URL", "DIRECTOR_REPORT_SETUP_RUN_URL"):
        assert env[name]["value"].startswith("https://")

    # Probes and scraping on the HTTP endpoint's port.
    port = {p["name"]: p["containerPort"] for p in sidecar["ports"]}["metrics"]
    assert port == 9464
    assert sidecar["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert sidecar["livenessProbe"]["httpGet"]["path"] == "/healthz"
    ann = dep["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == str(port)

    # Requests and limits fit the measured footprint (bench/README.md):
    # 10.3 MiB idle, 20.4 MiB with 100 000 in flight.
    res = sidecar["resources"]
    mib = lambda q: int(q.rstrip("Mi"))
    assert mib(res["requests"]["memory"]) >= 21
    assert mib(res["limits"]["memory"]) >= 2 * mib(res["requests"]["memory"])
    assert "cpu" in res["requests"] and "cpu" in res["limits"]

    # The shipped INI is one the real daemon accepts, with the pod's
    # environment (paths that exist only in the pod moved into workdir).
    tok = os.path.join(workdir, "token")
    with open(tok, "w") as f:
        f.write("t0ken\n")
    path = os.path.join(workdir, "podpulse.ini")
    with open(path, "w") as f:
        f.write(ini)
    env = dict(os.environ, POD_NAME="llama-3-8b-0", POD_NAMESPACE="models", NODE_NAME="n1",
               DIRECTOR_REPORT_INSTANCE_STATE_URL="https://director.example.com/v1/i",
               DIRECTOR_REPORT_SETUP_RUN_URL="https://director.example.com/v1/s")
    r = subprocess.run([harness.ARGS.podpulse, "--check-config", "-c", path,
                        "-o", "report.auth_token_file=" + tok,
                        "-o", "report.spool_dir=" + os.path.join(workdir, "spool")],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert "t0ken" not in r.stdout
    # With the Redis Secret mounted as env, scale snapshots are on and the
    # password stays masked.
    env["PODPULSE_SCALESTATE_REDIS_URL"] = "redis://:s3cret@redis.default.svc:6379"
    r = subprocess.run([harness.ARGS.podpulse, "--check-config", "-c", path,
                        "-o", "report.auth_token_file=" + tok,
                        "-o", "report.spool_dir=" + os.path.join(workdir, "spool")],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert "redis_url = redis://:***@redis.default.svc:6379\n" in r.stdout, r.stdout
    assert "s3cret" not in r.stdout + r.stderr
    scale_env = {e["name"]: e for e in sidecar["env"]}["PODPULSE_SCALESTATE_REDIS_URL"]
    scale_env = scale_env["valueFrom"]["secretKeyRef"]
    assert scale_env["optional"] is True


def test_alert_rules(workdir):
    rules = os.path.join(SRC, "config", "prometheus")
    out = run("promtool", "check", "rules", os.path.join(rules, "podpulse-rules.yml"))
    assert "SUCCESS: 7 rules found" in out, out
    # Every alert fires for the series that should raise it, and only then.
    run("promtool", "test", "rules", "podpulse-rules.test.yml", cwd=rules)


harness.main(globals())
