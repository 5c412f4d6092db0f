#!/usr/bin/env python3
"""Results folder of a benchmark run: raw JSON, summary.json, table.md, chart.png.

usage: results.py vm <raw dir> <results root> [--mode icount|tcg] [--seconds N]
       results.py loopback <raw dir> <results root>

vm: what scripts/bench/guest-bench.sh leaves, for each round R and target
(ours|lio|scst): r<R>-<target>-<job>.json (fio JSON; srp_initiator bench JSON
lines for job srp_initiator), r<R>-<target>-<job>.cpu (/proc samples before
and after the job), r<R>-<target>-base.mem (kernel memory before the target
started; r<R>-<target>-<backing>-base.mem in the slow set, whose jobs are
named <backing>-<job>), backings.txt (what the backings were) and
perftest-*.txt (the raw RDMA ceiling). Names without r<R>- count as round 1.
Every figure is the mean over the rounds;
the spread between rounds (max/min - 1) shows the noise; the ratios use the
means. The tables: IOPS and ratios, latency, CPU time and memory.
loopback: the JSON lines of loopback_cost and its callgrind counts
(tests/bench/loopback_cost.cpp, scripts/bench/loopback-cost.sh).
Writes <results root>/<date>-<commit>/ and prints where everything went.
"""
import datetime
import json
import os
import re
import shutil
import subprocess
import sys

TARGETS = ("ours", "lio", "scst")
LABELS = {"ours": "ours", "lio": "LIO", "scst": "SCST"}
MODE_NOTE = {
    "icount": "QEMU icount (deterministic): guest time counts guest instructions, so these figures are "
              "instruction costs of the whole in-guest stack, not hardware speeds",
    "tcg": "QEMU TCG (wall clock of an emulated guest): noisy, compare ratios only, not hardware speeds",
}
BENCH_JOB = "srp_initiator bench 4k randread qd32"
RAW_NAME = re.compile(r"^(?:r(\d+)-)?(ours|lio|scst)-(.+)\.(json|cpu|mem)$")
CLK_TCK = 100  # USER_HZ: the unit of /proc/stat and /proc/<pid>/stat times
# The kernel targets' own threads, by name (kernel threads only). A kworker
# is named after the workqueue it ran last, so this is approximate; shared
# work (rxe, softirqs, ib_srp) is in no target's threads: compare the system
# busy time instead.
KTHREADS = {"lio": re.compile(r"-(ib-comp-wq|ib-comp-unb-wq|target_completion|target_submission)$"),
            "scst": re.compile(r"^(scst|scsi_tm)|-srpt$")}
SEQ_READ = re.compile(r"^\d+[km]-read-")  # the jobs compared with ib_read_bw
# figures averaged over the rounds; "spread" is given for these
SPREAD_OF = ("iops", "cpu_busy_us_per_io")


def commit_of(root):
    try:
        rev = subprocess.run(["git", "-C", root, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def fio_figures(path):
    """IOPS, MB/s, p50/p99 completion latency (us) and block size of one fio JSON file, or None."""
    try:
        with open(path) as f:
            text = f.read()
        job = json.loads(text[text.index("{"):])["jobs"][0]  # fio may print a warning line first
    except (OSError, ValueError, KeyError, IndexError):
        return None
    read, write = job["read"], job["write"]
    main = read if read["io_bytes"] >= write["io_bytes"] else write
    pct = main.get("clat_ns", {}).get("percentile", {})
    ios = read.get("total_ios", 0) + write.get("total_ios", 0)
    fig = {"iops": read["iops"] + write["iops"],
           "mb_s": (read["bw_bytes"] + write["bw_bytes"]) / 1e6,
           "p50_us": pct.get("50.000000", 0) / 1000,
           "p99_us": pct.get("99.000000", 0) / 1000}
    if ios:
        fig["bs"] = (read["io_bytes"] + write["io_bytes"]) / ios
    return fig


def bench_figures(path):
    """srp_initiator bench --json: its last line."""
    try:
        with open(path) as f:
            j = json.loads(f.read().strip().splitlines()[-1])
        return {"iops": j["iops"], "p50_us": j["latency_us"].get("p50", 0), "p99_us": j["latency_us"]["p99"]}
    except (OSError, ValueError, KeyError, IndexError):
        return None


def read_samples(path):
    """A .cpu file: {"before": sample, "after": sample}; a sample holds busy
    (ticks), sectors, proc (ticks), mem (kB: Slab + Unevictable), kthreads
    ({tid or name: (name, ticks)}) and the status lines' kB (VmRSS, RssAnon)."""
    out, cur = {}, None
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        w = line.split()
        if not w:
            continue
        if w[0] in ("before", "after"):
            cur = out.setdefault(w[0], {"kthreads": {}})
        elif cur is None:
            continue
        elif w[0] == "cpu":  # user nice system idle iowait irq softirq steal: busy is all but idle, iowait
            t = [int(x) for x in w[1:9]]
            cur["busy"] = sum(t) - t[3] - t[4]
        elif w[0] == "disk":
            cur["sectors"] = int(w[1]) + int(w[2])
        elif w[0] == "proc":
            cur["proc"] = int(w[1]) + int(w[2])
        elif w[0] == "mem":
            cur["mem"] = sum(int(x) for x in w[1:])
        elif w[0] == "kthread":
            key, name = (w[1], w[2]) if len(w) == 4 else (w[1], w[1])
            cur["kthreads"][key] = (name, int(w[-1]))
        elif w[0].endswith(":") and len(w) >= 2:  # VmRSS:  1234 kB
            cur[w[0][:-1]] = int(w[1])
    return out if "before" in out and "after" in out else None


def cpu_figures(samples, target, bs, base_mem):
    """CPU microseconds per I/O and memory of one job, from its samples."""
    b, a = samples["before"], samples["after"]
    us = lambda ticks: ticks * 1e6 / CLK_TCK
    ios = (a.get("sectors", 0) - b.get("sectors", 0)) * 512 / bs if bs else 0
    fig = {}
    if ios <= 0:
        return fig
    fig["cpu_busy_us_per_io"] = us(a["busy"] - b["busy"]) / ios
    if "proc" in a and "proc" in b:
        fig["target_cpu_us_per_io"] = us(a["proc"] - b["proc"]) / ios
    if target in KTHREADS:
        pat, ticks = KTHREADS[target], 0
        for key, (name, t) in a["kthreads"].items():
            old_name, old = b["kthreads"].get(key, (name, 0))
            if pat.search(name) or pat.search(old_name):
                ticks += t - old
        fig["kthread_cpu_us_per_io"] = us(ticks) / ios
    if "VmRSS" in a:
        fig["rss_mib"] = a["VmRSS"] / 1024
    if "RssAnon" in a:
        fig["rss_anon_mib"] = a["RssAnon"] / 1024
    if base_mem is not None and "mem" in a:
        fig["kmem_mib"] = (a["mem"] - base_mem) / 1024
    return fig


def base_mem_of(path):
    try:
        with open(path) as f:
            w = f.read().split()
        return sum(int(x) for x in w[1:]) if w and w[0] == "mem" else None
    except (OSError, ValueError):
        return None


def perftest(raw):
    """The raw RDMA ceiling: {"read_bw_mb_s", "write_bw_mb_s" (MB = 1e6 B), "read_lat_us" (typical)}."""
    out = {}
    for name, col, key, scale in (("read_bw", 3, "read_bw_mb_s", 1.048576), ("write_bw", 3, "write_bw_mb_s", 1.048576),
                                  ("read_lat", 4, "read_lat_us", 1.0)):
        try:
            with open(os.path.join(raw, f"perftest-{name}.txt")) as f:
                lines = f.read().splitlines()
            i = next(i for i, l in enumerate(lines) if l.strip().startswith("#bytes"))
            v = float(lines[i + 1].split()[col]) * scale  # perftest's MB/sec is MiB/s
            out[key] = v if v > 0 else None
        except (OSError, StopIteration, IndexError, ValueError):
            pass
    return out


def mean(xs):
    return sum(xs) / len(xs) if xs else None


def spread_pct(xs):
    """max/min - 1 in percent: how far apart the rounds are (None for one round)."""
    return (max(xs) / min(xs) - 1) * 100 if len(xs) > 1 and min(xs) > 0 else None


def vm_summary(raw):
    """{job: {target: figures}}: per figure the mean of the rounds, and
    "rounds" (each round's figures) and "spread_pct" (max/min - 1, for
    SPREAD_OF); jobs in a stable order."""
    per_round = {}  # (job, target) -> {round: figures}
    names = sorted(os.listdir(raw))
    for name in names:
        m = RAW_NAME.match(name)
        if not m or m.group(4) != "json":
            continue
        rnd, target, job = int(m.group(1) or 1), m.group(2), m.group(3)
        path = os.path.join(raw, name)
        fig = bench_figures(path) if job == "srp_initiator" else fio_figures(path)
        if fig is None:
            continue
        samples = read_samples(path[:-5] + ".cpu")
        if samples is not None:
            # the slow set has a baseline per backing (the job name's first word), the memory set one per target
            base = base_mem_of(os.path.join(raw, f"r{rnd}-{target}-{job.split('-')[0]}-base.mem"))
            if base is None:
                base = base_mem_of(os.path.join(raw, f"r{rnd}-{target}-base.mem"))
            fig.update(cpu_figures(samples, target, fig.get("bs"), base))
        fig.pop("bs", None)
        label = BENCH_JOB if job == "srp_initiator" else job
        per_round.setdefault((label, target), {})[rnd] = fig
    jobs = {}
    for (job, target), rounds in sorted(per_round.items(), key=lambda kv: (kv[0][0] == BENCH_JOB, kv[0][0])):
        figs = [rounds[r] for r in sorted(rounds)]
        keys = [k for k in figs[0] if all(k in f for f in figs)]
        agg = {k: mean([f[k] for f in figs]) for k in keys}
        agg["rounds"] = figs
        agg["spread_pct"] = {k: spread_pct([f[k] for f in figs]) for k in SPREAD_OF if k in keys}
        jobs.setdefault(job, {})[target] = agg
    return jobs


def ratio(a, b):
    return a / b if a and b else None


def fmt(v, p=0, unit=""):
    return "n/a" if v is None else f"{v:.{p}f}{unit}"


def backings_of(raw):
    """The guest's description of the backings (backings.txt), or None."""
    try:
        with open(os.path.join(raw, "backings.txt")) as f:
            return f.read().strip() or None
    except OSError:
        return None


def vm_table(jobs, mode, commit, seconds, ceiling, rounds, backings=None):
    have_scst = any("scst" in t for t in jobs.values())
    targets = [t for t in TARGETS if t != "scst" or have_scst]
    names = "/".join(LABELS[t] for t in targets)
    others = ["lio"] + (["scst"] if have_scst else [])
    get = lambda per, t, k: per.get(t, {}).get(k)
    ceil = (f"Raw RDMA ceiling in the same boot (perftest over RDMA/CM, bw: 500 x 128 KiB; "
            f"an SRP read moves its data with RDMA WRITE): ib_read_bw "
            f"{fmt(ceiling.get('read_bw_mb_s'), 1, ' MB/s')}, ib_write_bw "
            f"{fmt(ceiling.get('write_bw_mb_s'), 1, ' MB/s')}, ib_read_lat 8 B typical "
            f"{fmt(ceiling.get('read_lat_us'), 1, ' us')}.")
    lines = [f"Benchmark at commit `{commit}`, timing mode **{mode}**: {MODE_NOTE.get(mode, mode)}. "
             f"{seconds}s per job, {rounds} round{'s' if rounds != 1 else ''}: every target in one boot, "
             f"alternating ({', '.join(LABELS[t] for t in targets)}{', then again' if rounds > 1 else ''}). "
             f"Each figure is the mean of the "
             f"rounds; (x%) is the spread between them, max/min - 1; the ratios use the means; above 1 means "
             f"ours is faster" + ("." if have_scst else "; SCST did not run (set SCST_SRC to add it).")
             + (f" {backings[:1].upper()}{backings[1:]}." if backings else ""), ""]
    if ceiling:
        lines += [ceil, ""]
    # 1. throughput
    head = (["job"] + [f"{LABELS[t]} IOPS (spread)" for t in targets] + [f"ours/{LABELS[o]}" for o in others]
            + [f"MB/s {names}"] + ([f"of ib_read_bw {names}"] if ceiling else []))
    lines += ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for job, per in jobs.items():
        cells = [job]
        for t in targets:
            sp = per.get(t, {}).get("spread_pct", {}).get("iops")
            cells.append(fmt(get(per, t, "iops")) + (f" ({sp:.1f}%)" if sp is not None else ""))
        cells += [fmt(ratio(get(per, "ours", "iops"), get(per, o, "iops")), 2) for o in others]
        cells.append("/".join(fmt(get(per, t, "mb_s"), 1) for t in targets) if job != BENCH_JOB else "")
        if ceiling:
            cells.append("/".join(fmt(ratio(get(per, t, "mb_s"), ceiling.get("read_bw_mb_s")), 2) for t in targets)
                         if SEQ_READ.match(job) else "")
        lines.append("| " + " | ".join(cells) + " |")
    # 2. latency
    lines += ["", f"Completion latency (fio clat; srp_initiator bench: its own), mean of the rounds' percentiles, us.", "",
              f"| job | p50 us {names} | p99 us {names} |", "|---|---:|---:|"]
    for job, per in jobs.items():
        lines.append(f"| {job} | " + " | ".join("/".join(fmt(get(per, t, k)) for t in targets)
                                                for k in ("p50_us", "p99_us")) + " |")
    # 3. CPU and memory (jobs with /proc samples)
    cpu_jobs = {j: p for j, p in jobs.items() if any("cpu_busy_us_per_io" in f for f in p.values())}
    if cpu_jobs:
        kt = [o for o in others if o in KTHREADS]
        lines += ["", "CPU time per I/O and memory, means of the rounds. Sampled by fio's exec_prerun and "
                  "exec_postrun: from just before its first I/O to just after its last (its 1 s ramp included, its "
                  "start and exit not); one I/O is one fio request, counted from the device's sectors over that "
                  "span. us/IO:",
                  "- **system busy**: the whole guest's non-idle time from /proc/stat (fio, block layer, ib_srp, "
                  "rxe, softirqs and the target; one vCPU): the fair comparison, (x%) its spread;",
                  "- **srp_target process**: utime+stime of our srp_target (/proc/<pid>/stat; stime includes "
                  "the kernel's work in its system calls, rxe's among it), ours only;",
                  "- **kernel target threads**: utime+stime of the kernel threads named like the target's workers "
                  "(LIO: kworkers last on ib-comp-wq, target_completion, target_submission; SCST: scst*, scsi_tm, "
                  "kworkers on srpt); approximate, a kworker's name is the workqueue it ran last, and rxe's "
                  "work is in no target's threads;",
                  "- **RSS**: our srp_target's VmRSS at the end of the job (anon: RssAnon; on a memory-kind LUN "
                  "the rest is mostly the mapped backing file);",
                  "- **kernel memory**: growth of Slab + Unevictable (/proc/meminfo) from before the target "
                  "started to the end of the job, every target (includes ib_srp's share, the same for all).", "",
                  "| job | CPU us/IO system busy " + names + " | CPU us/IO srp_target process (ours) | "
                  + (f"CPU us/IO kernel target threads {'/'.join(LABELS[o] for o in kt)} | " if kt else "")
                  + "RSS MiB ours (anon) | kernel memory MiB " + names + " |",
                  "|---|---:|---:|" + ("---:|" if kt else "") + "---:|---:|"]
        for job, per in cpu_jobs.items():
            busy = []
            for t in targets:
                sp = per.get(t, {}).get("spread_pct", {}).get("cpu_busy_us_per_io")
                busy.append(fmt(get(per, t, "cpu_busy_us_per_io")) + (f" ({sp:.1f}%)" if sp is not None else ""))
            cells = [job, "/".join(busy), fmt(get(per, "ours", "target_cpu_us_per_io"))]
            if kt:
                cells.append("/".join(fmt(get(per, o, "kthread_cpu_us_per_io")) for o in kt))
            cells.append(f"{fmt(get(per, 'ours', 'rss_mib'), 1)} ({fmt(get(per, 'ours', 'rss_anon_mib'), 1)})")
            cells.append("/".join(fmt(get(per, t, "kmem_mib"), 1) for t in targets))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n", targets


def chart(path, title, groups, series, value, ylabel, ratio_of=(), span=None):
    """Grouped bars: one group per entry of groups, one bar per series; over
    the first bar of each group a ratio label series[0] / r for each series r
    in ratio_of ("1.08x" for one; "1.08x LIO" and so on, a line each, for more).
    span(group, series): (low, high) drawn as an error bar (the rounds' range).
    Without matplotlib (python3-matplotlib) there is no chart, and it says so."""
    try:
        import matplotlib
    except ImportError:
        print("results: no chart: python3-matplotlib is not installed (scripts/install-deps.sh)", file=sys.stderr)
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(groups)
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(names)), 4.5))
    for i, s in enumerate(series):
        ys = [value(groups[n], s) or 0 for n in names]
        err = None
        if span:
            lo_hi = [span(groups[n], s) or (y, y) for n, y in zip(names, ys)]
            err = [[max(0, y - lo) for y, (lo, _) in zip(ys, lo_hi)], [max(0, hi - y) for y, (_, hi) in zip(ys, lo_hi)]]
        bars = ax.bar([x + i * width for x in range(len(names))], ys, width, label=s, yerr=err, capsize=2)
        if ratio_of and i == 0:
            for x, n in enumerate(names):
                labels = []
                for other in ratio_of:
                    r = ratio(value(groups[n], s), value(groups[n], other))
                    if r:
                        labels.append(f"{r:.2f}x" + (f" {other}" if len(ratio_of) > 1 else ""))
                if labels:
                    ax.annotate("\n".join(labels), (bars[x].get_x() + width / 2, bars[x].get_height()),
                                ha="center", va="bottom", fontsize=7)
    if len(ratio_of) > 1:  # room above the tallest bar for a label of several lines
        ax.set_ylim(top=ax.get_ylim()[1] * 1.1)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(names))])
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def results_dir(root, commit, now=None, suffix=""):
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    path = os.path.join(root, f"{stamp}-{commit}{suffix}")
    os.makedirs(os.path.join(path, "raw"), exist_ok=True)
    return path


def write_vm(raw, root, mode, seconds, commit, now=None):
    jobs = vm_summary(raw)
    ceiling = perftest(raw)
    rounds = max((len(f.get("rounds", [])) for per in jobs.values() for f in per.values()), default=0)
    out = results_dir(root, commit, now)
    for name in os.listdir(raw):
        if os.path.isfile(os.path.join(raw, name)):
            shutil.copy(os.path.join(raw, name), os.path.join(out, "raw", name))
    backings = backings_of(raw)
    table, targets = vm_table(jobs, mode, commit, seconds, ceiling, rounds, backings)
    # IOPS ratios of the means: ours against each kernel target, and SCST/LIO
    # (the two kernel targets against each other) when SCST ran
    pairs = [("ours", o) for o in targets if o != "ours"] + ([("scst", "lio")] if "scst" in targets else [])
    summary = {"kind": "vm", "commit": commit, "timing_mode": mode, "seconds_per_job": seconds, "rounds": rounds,
               "note": MODE_NOTE.get(mode, mode), "backings": backings, "targets": targets, "perftest": ceiling,
               "jobs": jobs,
               "ratios": {job: {f"{LABELS[a]}/{LABELS[b]}": ratio(per.get(a, {}).get("iops"),
                                                                 per.get(b, {}).get("iops"))
                                for a, b in pairs} for job, per in jobs.items()},
               "read_bw_fraction": {job: {LABELS[t]: ratio(per.get(t, {}).get("mb_s"), ceiling.get("read_bw_mb_s"))
                                          for t in targets} for job, per in jobs.items() if SEQ_READ.match(job)}}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table)
    others = [LABELS[t] for t in targets if t != "ours"]

    def span(per, s):
        rs = [r["iops"] for r in per.get(_key(s), {}).get("rounds", []) if "iops" in r]
        return (min(rs), max(rs)) if rs else None
    chart(os.path.join(out, "chart.png"),
          f"IOPS per job, mean of {rounds} rounds, bars: their range ({mode}, {commit}); "
          f"label{'s' if len(others) > 1 else ''}: " + ", ".join(f"ours/{o}" for o in others),
          jobs, [LABELS[t] for t in targets], lambda per, s: per.get(_key(s), {}).get("iops"), "IOPS",
          ratio_of=others, span=span)
    return out, table


def _key(label):
    return {v: k for k, v in LABELS.items()}[label]

def loopback_rows(raw):
    """The timing runs (timing.jsonl) and callgrind counts (callgrind.jsonl), joined per configuration."""
    def load(name):
        try:
            with open(os.path.join(raw, name)) as f:
                return [json.loads(l) for l in f if l.strip()]
        except OSError:
            return []
    key = lambda r: (r["group"], r["op"], r["bytes"], r["channels"], r["qd"], r["pollers"])
    counts = {key(r): r for r in load("callgrind.jsonl")}
    rows = []
    for r in load("timing.jsonl"):
        c = counts.get(key(r), {})
        rows.append(dict(r, **{k: c[k] for k in ("ir_per_io", "ir_fabric_per_io", "ir_target_per_io") if k in c}))
    return rows


def loopback_table(rows, commit):
    lines = [f"Target cost on the loopback fabric at commit `{commit}` (host CPU, no VM, no rxe). "
             "ns/IO: CPU time of the target's poller threads per I/O (includes idle spins and the loopback "
             "fabric's work on those threads: its mutex and the copies standing in for the NIC's DMA). "
             "Ir/IO: instructions per I/O counted by callgrind inside the target's Channel::poll "
             "(incl. empty polls); fabric: the part inside the loopback connection's calls; target: the rest. "
             "The initiator's threads are counted in neither.", "",
             "| group | I/O | channels | QD/ch | pollers | IOPS | target ns/IO | Ir/IO | fabric Ir/IO | target Ir/IO |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    fmt = lambda v, p=0: "n/a" if v is None else f"{v:.{p}f}"
    for r in rows:
        io = f"{r['bytes'] // 1024}k {r['op']}"
        lines.append(f"| {r['group']} | {io} | {r['channels']} | {r['qd']} | {r['pollers']} | {fmt(r['iops'])} | "
                     f"{fmt(r['target_cpu_ns_per_io'])} | {fmt(r.get('ir_per_io'))} | "
                     f"{fmt(r.get('ir_fabric_per_io'))} | {fmt(r.get('ir_target_per_io'))} |")
    return "\n".join(lines) + "\n"


def write_loopback(raw, root, commit, now=None):
    rows = loopback_rows(raw)
    out = results_dir(root, commit, now, "-loopback")
    for name in os.listdir(raw):
        src = os.path.join(raw, name)
        if os.path.isfile(src):
            shutil.copy(src, os.path.join(out, "raw", name))
    table = loopback_table(rows, commit)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"kind": "loopback", "commit": commit, "timing_mode": "host CPU time + callgrind", "rows": rows},
                  f, indent=1)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table)
    groups = {f"{r['group']} {r['bytes'] // 1024}k {r['op']} c{r['channels']} q{r['qd']} p{r['pollers']}": r
              for r in rows}
    chart(os.path.join(out, "chart.png"), f"Target ns per I/O on the loopback fabric ({commit})", groups,
          ["target ns/IO"], lambda r, s: r.get("target_cpu_ns_per_io"), "ns per I/O (poller threads)")
    return out, table


def main(argv):
    if len(argv) < 4 or argv[1] not in ("vm", "loopback"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, raw, root = argv[1], argv[2], argv[3]
    opts = dict(zip(argv[4::2], argv[5::2]))
    commit = commit_of(os.path.dirname(os.path.abspath(__file__)))
    if kind == "vm":
        out, table = write_vm(raw, root, opts.get("--mode", "icount"), opts.get("--seconds", "?"), commit)
    else:
        out, table = write_loopback(raw, root, commit)
    print(table)
    print(f"results: {out}/ (raw/, summary.json, table.md, chart.png)")
    print(f"table: {out}/table.md\nchart: {out}/chart.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
