#!/usr/bin/env python3
"""Results folder of a benchmark run: raw JSON, summary.json, table.md, chart.png.

usage: results.py vm <raw dir> <results root> [--mode icount|tcg] [--seconds N]
       results.py loopback <raw dir> <results root>

vm: the guest's fio JSON (<target>-<job>.json, target ours|lio|scst) and
srp_initiator bench JSON lines (<target>-srp_initiator.json). The table has
one row per job with each target's figure and ours/LIO (and ours/SCST only
when SCST ran). loopback: the JSON lines of loopback_cost and its callgrind
counts (tests/bench/loopback_cost.cpp, scripts/bench/loopback-cost.sh).
Writes <results root>/<date>-<commit>/ and prints where everything went.
"""
import datetime
import json
import os
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
    """IOPS, MB/s and p50/p99 completion latency (us) of one fio JSON file, or None."""
    try:
        with open(path) as f:
            text = f.read()
        job = json.loads(text[text.index("{"):])["jobs"][0]  # fio may print a warning line first
    except (OSError, ValueError, KeyError, IndexError):
        return None
    read, write = job["read"], job["write"]
    main = read if read["io_bytes"] >= write["io_bytes"] else write
    pct = main.get("clat_ns", {}).get("percentile", {})
    return {"iops": read["iops"] + write["iops"],
            "mb_s": (read["bw_bytes"] + write["bw_bytes"]) / 1e6,
            "p50_us": pct.get("50.000000", 0) / 1000,
            "p99_us": pct.get("99.000000", 0) / 1000}


def bench_figures(path):
    """srp_initiator bench --json: its last line."""
    try:
        with open(path) as f:
            j = json.loads(f.read().strip().splitlines()[-1])
        return {"iops": j["iops"], "p50_us": j["latency_us"].get("p50", 0), "p99_us": j["latency_us"]["p99"]}
    except (OSError, ValueError, KeyError, IndexError):
        return None


def vm_summary(raw):
    """{job: {target: figures}} from the raw files, in a stable job order."""
    jobs = {}
    for name in sorted(os.listdir(raw)):
        if not name.endswith(".json"):
            continue
        target, _, job = name[:-5].partition("-")
        if target not in TARGETS or not job:
            continue
        path = os.path.join(raw, name)
        fig = bench_figures(path) if job == "srp_initiator" else fio_figures(path)
        if fig is not None:
            label = "srp_initiator bench 4k randread qd32" if job == "srp_initiator" else job
            jobs.setdefault(label, {})[target] = fig
    return jobs


def ratio(a, b):
    return a / b if a and b else None


def vm_table(jobs, mode, commit, seconds):
    have_scst = any("scst" in t for t in jobs.values())
    targets = [t for t in TARGETS if t != "scst" or have_scst]
    lines = [f"Benchmark at commit `{commit}`, timing mode **{mode}**: {MODE_NOTE.get(mode, mode)}. "
             f"{seconds}s per job. IOPS; ratio above 1 means ours is faster"
             + ("." if have_scst else "; SCST did not run (set SCST_SRC to add it)."), ""]
    head = ["job"] + [f"{LABELS[t]} IOPS" for t in targets] + ["ours/LIO"] + (["ours/SCST"] if have_scst else [])
    head += ["p99 us " + "/".join(LABELS[t] for t in targets)]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    for job, per in jobs.items():
        cells = [job]
        for t in targets:
            cells.append(f"{per[t]['iops']:.0f}" if t in per else "n/a")
        for other in ["lio"] + (["scst"] if have_scst else []):
            r = ratio(per.get("ours", {}).get("iops"), per.get(other, {}).get("iops"))
            cells.append(f"{r:.2f}" if r else "n/a")
        cells.append("/".join(f"{per[t]['p99_us']:.0f}" if t in per else "n/a" for t in targets))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n", targets


def chart(path, title, groups, series, value, ylabel, ratio_of=()):
    """Grouped bars: one group per entry of groups, one bar per series; over
    the first bar of each group a ratio label series[0] / r for each series r
    in ratio_of ("1.08x" for one; "1.08x LIO" and so on, a line each, for more).
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
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(names)), 4.5))
    for i, s in enumerate(series):
        ys = [value(groups[n], s) or 0 for n in names]
        bars = ax.bar([x + i * width for x in range(len(names))], ys, width, label=s)
        if ratio_of and i == 0:
            for x, n in enumerate(names):
                labels = []
                for other in ratio_of:
                    r = ratio(value(groups[n], s), value(groups[n], other))
                    if r:
                        labels.append(f"{r:.2f}x" + (f" {other}" if len(ratio_of) > 1 else ""))
                if labels:
                    ax.annotate("\n".join(labels), (bars[x].get_x() + width / 2, bars[x].get_height()),
                                ha="center", va="bottom", fontsize=8)
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
    out = results_dir(root, commit, now)
    for name in os.listdir(raw):
        if name.endswith(".json"):
            shutil.copy(os.path.join(raw, name), os.path.join(out, "raw", name))
    table, targets = vm_table(jobs, mode, commit, seconds)
    # IOPS ratios: ours against each kernel target, and SCST/LIO (the two
    # kernel targets against each other) when SCST ran
    pairs = [("ours", o) for o in targets if o != "ours"] + ([("scst", "lio")] if "scst" in targets else [])
    summary = {"kind": "vm", "commit": commit, "timing_mode": mode, "seconds_per_job": seconds,
               "note": MODE_NOTE.get(mode, mode), "targets": targets, "jobs": jobs,
               "ratios": {job: {f"{LABELS[a]}/{LABELS[b]}": ratio(per.get(a, {}).get("iops"),
                                                                 per.get(b, {}).get("iops"))
                                for a, b in pairs} for job, per in jobs.items()}}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table)
    others = [LABELS[t] for t in targets if t != "ours"]
    chart(os.path.join(out, "chart.png"),
          f"IOPS per job ({mode}, {commit}); label{'s' if len(others) > 1 else ''}: "
          + ", ".join(f"ours/{o}" for o in others),
          jobs, [LABELS[t] for t in targets], lambda per, s: per.get(_key(s), {}).get("iops"), "IOPS",
          ratio_of=others)
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
