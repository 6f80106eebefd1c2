#!/usr/bin/env python3
"""Upload benchmark: the task's Blob upload against the Azure CLI (the tool users pick for this
step) and Microsoft's Python and JavaScript SDKs, on the same file and the same Azurite, and the
task's peak memory during the upload. Prints one JSON object.

    python3 tests/bench/blob.py [--size-mib 300] [--rounds 5] [--binary PATH]

- ours: the task binary run as the agent's launcher runs it (`--agent`, INPUT_* environment, a SAS through
  storageSasToken), deploying to the Ververica Platform fake (tests/fakes/vvp.js, with instant
  transitions), as a pipeline would. Timed as a whole process: start, MD5 of the file, the
  existence check, the parallel block upload, the commit, the read-back and the deployment of the
  uploaded jar (a few milliseconds against the fake). The upload step alone is also reported, from
  the task's own output: from the line that opens the upload step to the line that reports it
  done, each stamped as it arrives. Each run must leave the fake's deployment on the uploaded jar.
- az: `az storage blob upload --max-connections 8` (azure-cli from PyPI, pinned, in .cache), timed
  as the whole command a pipeline step would run. Its start-up (the same command on a 1-byte file,
  every round) is subtracted for the estimate of its upload alone, so that the task's upload step
  is compared with no more than the CLI's own upload.
- az-md5: the same command with --validate-content, which sends each block's MD5 as ours does.
  Not what a pipeline step would write, but it shows how much of the gap is Azurite's: a block
  without Content-MD5 makes Azurite compute its CRC64 in JavaScript, a byte at a time, on the
  one thread that serves every request; with Content-MD5 it computes the MD5 natively instead.
- python: azure-storage-blob BlobClient.upload_blob(max_concurrency=8), the call alone.
- node: @azure/storage-blob BlockBlobClient.uploadFile(concurrency 8), the call alone.
Each round runs all of them in rotating order, each to its own blob; medians are reported. Peak
RSS comes from wait4() on the task's process (ru_maxrss), so it covers the whole run. Azurite's own
CPU time during each upload (from /proc) is reported per tool: Azurite runs on the same cores, and
on one thread, so its work per upload bounds every tool's figure. The machine's load average before
and after is reported: figures taken while others use the machine are noise.
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ACCOUNT = "devstoreaccount1"
# Azurite's published, well-known key (not a secret).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
VVP_TOKEN = "bench-blob-vvp-token"
PY_SDK = "azure-storage-blob==12.31.1"
AZ_CLI = "azure-cli==2.91.0"
CONCURRENCY = 8
MiB = 1024 * 1024


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def account_sas():
    """Account SAS, string-to-sign of versions 2020-12-06 and later."""
    expiry = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    version = "2021-08-06"
    to_sign = "\n".join([ACCOUNT, "rwdlacup", "b", "sco", "", expiry, "", "https,http", version, "", ""])
    sig = base64.b64encode(hmac.new(base64.b64decode(ACCOUNT_KEY), to_sign.encode(), hashlib.sha256).digest()).decode()
    return urllib.parse.urlencode({"sv": version, "ss": "b", "srt": "sco", "sp": "rwdlacup", "se": expiry, "spr": "https,http", "sig": sig})


def python_env():
    venv = os.path.join(REPO, ".cache", "bench-venv")
    py = os.path.join(venv, "bin", "python")
    marker = os.path.join(venv, "ok-" + PY_SDK)
    if not os.path.exists(marker):
        log(f"installing {PY_SDK} into {venv}")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", PY_SDK], check=True)
        open(marker, "w").close()
    return py


def az_cli():
    venv = os.path.join(REPO, ".cache", "bench-azcli")
    az = os.path.join(venv, "bin", "az")
    marker = os.path.join(venv, "ok-" + AZ_CLI)
    if not os.path.exists(marker):
        log(f"installing {AZ_CLI} into {venv}")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", AZ_CLI], check=True)
        open(marker, "w").close()
    return az


def run_az(az, config_dir, path, url, extra=()):
    """The whole `az storage blob upload` command, as a pipeline step runs it."""
    env = dict(os.environ, AZURE_CONFIG_DIR=config_dir, AZURE_CORE_COLLECT_TELEMETRY="no", AZURE_CORE_NO_COLOR="1")
    t0 = time.perf_counter()
    r = subprocess.run([az, "storage", "blob", "upload", "--file", path, "--blob-url", url, "--max-connections", str(CONCURRENCY),
                        "--overwrite", "--only-show-errors", "--output", "none", *extra], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"az storage blob upload failed:\n{r.stderr}")
    return {"seconds": seconds}


def cpu_seconds(pid):
    """User and system CPU time of a process so far (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_azurite(location):
    port = free_port()
    proc = subprocess.Popen(
        [os.path.join(REPO, "node_modules", ".bin", "azurite-blob"), "--blobHost", "127.0.0.1", "--blobPort", str(port),
         "--location", location, "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}/{ACCOUNT}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("azurite did not start")


# The fake stays up until its stdin closes, so it never outlives this script.
VVP_FAKE = """
const { startVvp } = require(process.argv[1]);
startVvp({ token: process.argv[2], deploymentTargets: [{ name: 'bench-jobs' }],
           timing: { startMs: 0, stopMs: 0, savepointMs: 0 } }).then((f) => {
  process.stdout.write(JSON.stringify({ url: f.url }) + '\\n');
  process.stdin.on('end', () => f.close().then(() => process.exit(0)));
  process.stdin.resume();
});
"""


def start_vvp():
    proc = subprocess.Popen(["node", "-e", VVP_FAKE, os.path.join(REPO, "tests", "fakes", "vvp.js"), VVP_TOKEN],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit("the Ververica Platform fake did not start")
    return proc, json.loads(line)["url"]


def deployed_jar(vvp_url, name):
    req = urllib.request.Request(f"{vvp_url}/api/v1/namespaces/default/deployments/{name}",
                                 headers={"Authorization": f"Bearer {VVP_TOKEN}"})
    with urllib.request.urlopen(req) as r:
        d = json.load(r)
    return d["status"]["state"], d["spec"]["template"]["spec"]["artifact"]["jarUri"]


def http(method, url, data=None):
    req = urllib.request.Request(url, data=data, method=method, headers={"x-ms-version": "2021-08-06"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


def make_file(path, size):
    h = hashlib.md5()
    with open(path, "wb") as f:
        left = size
        while left:
            b = os.urandom(min(4 * MiB, left))
            f.write(b)
            h.update(b)
            left -= len(b)
    return h.hexdigest()


def run_ours(binary, workdir, endpoint, sas, prefix, vvp_url, md5):
    tmp = tempfile.mkdtemp(prefix="bench-agent-")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "INPUT_TARGET": "ververica",
        "INPUT_ACTION": "deploy",
        "INPUT_VVPURL": vvp_url,
        "INPUT_VVPAPITOKEN": VVP_TOKEN,
        "INPUT_DEPLOYMENTNAME": prefix,
        "INPUT_DEPLOYMENTTARGETNAME": "bench-jobs",
        "INPUT_SETTLESECONDS": "0",
        "INPUT_TIMEOUTSECONDS": "60",
        "INPUT_ARTIFACTPATH": "job.jar",
        "INPUT_STORAGEACCOUNT": ACCOUNT,
        "INPUT_CONTAINERNAME": "bench",
        "INPUT_BLOBENDPOINT": endpoint,
        "INPUT_BLOBPREFIX": prefix,
        "INPUT_STORAGESASTOKEN": sas,
        "INPUT_PUBLISHTESTRESULTS": "false",
        "SYSTEM_DEFAULTWORKINGDIRECTORY": workdir,
        "AGENT_TEMPDIRECTORY": tmp,
    }
    t0 = time.perf_counter()
    # `--agent`, as the task's launcher starts it: the binary speaks the agent's protocol.
    proc = subprocess.Popen([binary, "--agent"], env=env, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # The task writes its log a line at a time; each line is stamped as it arrives.
    lines = [(time.perf_counter(), line.decode()) for line in proc.stdout]
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    out = "".join(line for _, line in lines)
    shutil.rmtree(tmp, ignore_errors=True)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the task failed:\n{out}")
    began = next((t for t, line in lines if line.startswith("##[section]upload artifact")), None)
    ended = next((t for t, line in lines if re.match(r"uploaded .* in [0-9.]+s \(", line)), None)
    if began is None or ended is None:
        raise SystemExit(f"no upload in the task's log:\n{out}")
    state, jar = deployed_jar(vvp_url, prefix)
    want = f"wasbs://bench@{ACCOUNT}.blob.core.windows.net/{prefix}/job.jar?md5={md5}"
    if state != "RUNNING" or jar != want:
        raise SystemExit(f"the deployment {prefix} is {state} with jar {jar}, not RUNNING with {want}:\n{out}")
    return {"seconds": seconds, "step_seconds": ended - began, "max_rss_kib": usage.ru_maxrss,
            "cpu_seconds": usage.ru_utime + usage.ru_stime}


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--binary", default=None)
    args = ap.parse_args()
    binary = args.binary or next(
        (p for p in [os.path.join(REPO, "dist/task/bin/linux-x64/flink-deploy"), os.path.join(REPO, "target/release/flink-deploy")] if os.path.exists(p)),
        None)
    if not binary:
        raise SystemExit("no release binary: run scripts/package (or cargo build --release) first")
    py = python_env()
    az = az_cli()
    work = tempfile.mkdtemp(prefix="bench-blob-")
    azurite, endpoint = start_azurite(os.path.join(work, "azurite"))
    vvp, vvp_url = start_vvp()
    try:
        sas = account_sas()
        status, _ = http("PUT", f"{endpoint}/bench?restype=container&{sas}", data=b"")
        if status not in (201, 409):
            raise SystemExit(f"cannot create the container: HTTP {status}")
        size = args.size_mib * MiB
        src = os.path.join(work, "src")
        os.makedirs(src)
        path = os.path.join(src, "job.jar")
        md5 = make_file(path, size)
        tiny = os.path.join(work, "tiny.bin")
        with open(tiny, "wb") as f:
            f.write(b"x")
        az_config = os.path.join(work, "az-config")
        load_before = os.getloadavg()
        log(f"{args.size_mib} MiB file, MD5 {md5}; Azurite at {endpoint}; load average {load_before}")
        tools = ["ours", "az", "az_md5", "python", "node"]
        results = {t: [] for t in tools + ["az_startup"]}
        azurite_cpu = {t: [] for t in tools}
        # Once before measuring: the CLI compiles its modules on first use.
        run_az(az, az_config, tiny, f"{endpoint}/bench/warm?{sas}")
        for rnd in range(args.rounds):
            for tool in tools[rnd % len(tools):] + tools[:rnd % len(tools)]:
                blob = f"{tool}-{rnd}/job.jar"
                url = f"{endpoint}/bench/{blob}?{sas}"
                cpu_before = cpu_seconds(azurite.pid)
                if tool == "ours":
                    r = run_ours(binary, src, endpoint, sas, f"{tool}-{rnd}", vvp_url, md5)
                elif tool == "az":
                    results["az_startup"].append(run_az(az, az_config, tiny, f"{endpoint}/bench/{tool}-{rnd}/tiny?{sas}"))
                    r = run_az(az, az_config, path, url)
                elif tool == "az_md5":
                    r = run_az(az, az_config, path, url, ["--validate-content"])
                elif tool == "python":
                    r = run_json([py, os.path.join(REPO, "tests/bench/blob-python.py"), path, url, str(CONCURRENCY)])
                else:
                    r = run_json(["node", os.path.join(REPO, "tests/bench/blob-node.js"), path, url, str(CONCURRENCY)])
                cpu_after = cpu_seconds(azurite.pid)
                if cpu_before is not None and cpu_after is not None:
                    azurite_cpu[tool].append(cpu_after - cpu_before)
                status, headers = http("HEAD", url)
                length = int(headers.get("Content-Length", headers.get("content-length", -1)))
                if status != 200 or length != size:
                    raise SystemExit(f"{tool}: blob {blob} is HTTP {status}, {length} bytes")
                if tool == "ours":
                    stored = base64.b64decode(headers.get("Content-MD5", headers.get("content-md5", ""))).hex()
                    if stored != md5:
                        raise SystemExit(f"ours: Content-MD5 {stored} != {md5}")
                extra = f" (upload step {r['step_seconds']:.2f}s)" if tool == "ours" else ""
                if azurite_cpu[tool]:
                    extra += f", Azurite CPU {azurite_cpu[tool][-1]:.2f}s"
                log(f"round {rnd + 1} {tool}: {r['seconds']:.2f}s{extra}")
                results[tool].append(r)

        def mibs(seconds):
            return round(args.size_mib / seconds, 1)

        med = {t: statistics.median(x["seconds"] for x in results[t]) for t in tools + ["az_startup"]}
        step = statistics.median(x["step_seconds"] for x in results["ours"])
        az_upload = med["az"] - med["az_startup"]
        az_md5_upload = med["az_md5"] - med["az_startup"]
        rss = max(x["max_rss_kib"] for x in results["ours"]) / 1024
        report = {
            "file_mib": args.size_mib,
            "rounds": args.rounds,
            "concurrency": CONCURRENCY,
            "binary": os.path.relpath(binary, REPO),
            "az_cli": AZ_CLI,
            "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]},
            "throughput_mib_s": {
                "ours_whole_process": mibs(med["ours"]),
                "ours_upload_step": mibs(step),
                "az_cli_command": mibs(med["az"]),
                "az_cli_upload_estimate": mibs(az_upload),
                "az_cli_validate_content_upload_estimate": mibs(az_md5_upload),
                "python_upload_blob": mibs(med["python"]),
                "node_uploadFile": mibs(med["node"]),
            },
            "az_cli_startup_seconds": round(med["az_startup"], 2),
            # Peer time / our time: above 1 is faster than the peer.
            "ratio_upload_step_vs_az_cli_upload": round(az_upload / step, 2),
            "ratio_upload_step_vs_az_cli": round(med["az"] / step, 2),
            "ratio_upload_step_vs_az_cli_validate_content_upload": round(az_md5_upload / step, 2),
            "ratio_vs_az_cli": round(med["az"] / med["ours"], 2),
            "ratio_vs_python": round(med["python"] / med["ours"], 2),
            "ratio_vs_node": round(med["node"] / med["ours"], 2),
            "ratio_vs_python_upload_step": round(med["python"] / step, 2),
            "ratio_vs_node_upload_step": round(med["node"] / step, 2),
            "ours_peak_rss_mib": round(rss, 1),
            "ours_cpu_seconds": round(statistics.median(x["cpu_seconds"] for x in results["ours"]), 2),
            # Azurite's CPU time per upload, median by tool: the emulator's share of each figure.
            "azurite_cpu_seconds": {t: round(statistics.median(v), 2) for t, v in azurite_cpu.items() if v},
            "goals": {"upload_step_vs_az_cli_at_least": 1.2, "ratios_at_least": 1.0, "peak_rss_below_mib": 64},
            "seconds": {t: [round(x["seconds"], 3) for x in results[t]] for t in tools + ["az_startup"]},
            "ours_upload_step_seconds": [round(x["step_seconds"], 3) for x in results["ours"]],
        }
        print(json.dumps(report, indent=2))
    finally:
        vvp.stdin.close()
        vvp.wait()
        azurite.terminate()
        azurite.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
