#!/usr/bin/env python3
"""scripts/bench/results.py on canned fio, /proc sample, perftest and
loopback_cost files: the results folder, the table's header and columns, the
mean and spread over rounds, CPU time per I/O, the ratios. No VM needed."""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "bench"))
import results  # noqa: E402


def fio(read_iops, write_iops=0.0, p99_us=100.0, bs=4096):
    side = lambda iops: {"iops": iops, "io_bytes": int(iops * bs), "bw_bytes": int(iops * bs),
                         "total_ios": int(iops),
                         "clat_ns": {"percentile": {"50.000000": p99_us * 500, "99.000000": p99_us * 1000}}}
    return {"fio version": "fio-3.33", "jobs": [{"read": side(read_iops), "write": side(write_iops)}]}


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def load(path):
    with open(path) as f:
        return json.load(f)


def samples(busy, sectors, proc=None, kthreads=(), mem=None, status=()):
    """A .cpu file as guest-bench.sh writes it; each argument a (before, after) pair."""
    text = ""
    for i, when in enumerate(("before", "after")):
        text += f"{when}\n"
        if mem:
            text += f"mem {mem[i]} 0 \n"
        text += f"cpu  {busy[i]} 0 0 5000 7 0 0 0 0 0\n"  # idle and iowait must not count
        text += f"disk {sectors[i]} 0\n"
        if proc:
            text += f"proc {proc[i]} 0\n"
        for tid, names, ticks in kthreads:
            text += f"kthread {tid} {names[i]} {ticks[i]}\n"
        if i == 1:
            text += "".join(f"{k}:\t{v} kB\n" for k, v in status)
    return text


class VmResults(unittest.TestCase):
    def write_raw(self, raw, targets, rounds=1):
        figures = {"ours": 1200.0, "lio": 1000.0, "scst": 800.0}
        for r in range(1, rounds + 1):
            for t in targets:
                for job in ("4k-randread-qd32", "128k-read-qd8"):
                    write(os.path.join(raw, f"r{r}-{t}-{job}.json"),
                          "fio: a warning line before the JSON\n" + json.dumps(fio(figures[t])))
                write(os.path.join(raw, f"r{r}-{t}-srp_initiator.json"),
                      json.dumps({"iops": figures[t] * 2, "latency_us": {"p50": 10, "p99": 40}}) + "\n")
        write(os.path.join(raw, "r1-lio-broken-job.json"), "not json")

    def run_vm(self, d, targets, mode="icount", seconds="2"):
        raw = os.path.join(d, "raw-in")
        os.makedirs(raw, exist_ok=True)
        self.write_raw(raw, targets)
        return raw, results.write_vm(raw, os.path.join(d, "res"), mode, seconds, "abc123")

    def test_without_scst_has_no_scst_column(self):
        with tempfile.TemporaryDirectory() as d:
            _, (out, table) = self.run_vm(d, ("ours", "lio"))
            self.assertIn("abc123", os.path.basename(out))
            for name in ("summary.json", "table.md", os.path.join("raw", "r1-ours-4k-randread-qd32.json")):
                self.assertTrue(os.path.exists(os.path.join(out, name)), name)
            self.assertIn("timing mode **icount**", table)
            self.assertIn("instruction costs", table)
            self.assertIn("commit `abc123`", table)
            self.assertNotIn("ours/SCST", table)
            self.assertIn("SCST did not run", table)
            self.assertIn("| 4k-randread-qd32 | 1200 | 1000 | 1.20 | 4.9/4.1 |\n", table)
            self.assertNotIn("ib_read_bw", table)  # no perftest ran: no ceiling line, no column
            self.assertNotIn("CPU us/IO", table)  # no samples, no CPU table
            summary = load(os.path.join(out, "summary.json"))
            self.assertEqual(summary["timing_mode"], "icount")
            self.assertEqual(summary["rounds"], 1)
            self.assertAlmostEqual(summary["ratios"]["128k-read-qd8"]["ours/LIO"], 1.2)
            self.assertEqual(summary["targets"], ["ours", "lio"])
            self.assertEqual(set(summary["ratios"]["128k-read-qd8"]), {"ours/LIO"})
            self.assertAlmostEqual(summary["jobs"]["srp_initiator bench 4k randread qd32"]["ours"]["iops"], 2400)
            self.assertIsNone(summary["jobs"]["4k-randread-qd32"]["ours"]["spread_pct"]["iops"])  # one round
            self.assertNotIn("broken-job", summary["jobs"])
            try:
                import matplotlib  # noqa: F401
                self.assertGreater(os.path.getsize(os.path.join(out, "chart.png")), 1000)
            except ImportError:
                pass

    def test_with_scst_adds_its_column_and_ratio(self):
        with tempfile.TemporaryDirectory() as d:
            _, (out, table) = self.run_vm(d, ("ours", "lio", "scst"), "tcg", "5")
            self.assertIn("ours/SCST", table)
            self.assertIn("not hardware speeds", table)
            self.assertNotIn("SCST did not run", table)
            self.assertIn("| job | ours IOPS (spread) | LIO IOPS (spread) | SCST IOPS (spread) | ours/LIO | ours/SCST | "
                          "MB/s ours/LIO/SCST |\n", table)
            self.assertIn("| 4k-randread-qd32 | 1200 | 1000 | 800 | 1.20 | 1.50 |", table)
            self.assertIn("| 4k-randread-qd32 | 50/50/50 | 100/100/100 |", table)
            self.assertIn("| srp_initiator bench 4k randread qd32 | 2400 | 2000 | 1600 | 1.20 | 1.50 |", table)
            summary = load(os.path.join(out, "summary.json"))
            self.assertEqual(summary["targets"], ["ours", "lio", "scst"])
            self.assertAlmostEqual(summary["jobs"]["128k-read-qd8"]["scst"]["iops"], 800)
            ratios = summary["ratios"]["4k-randread-qd32"]
            self.assertEqual(set(ratios), {"ours/LIO", "ours/SCST", "SCST/LIO"})
            self.assertAlmostEqual(ratios["ours/SCST"], 1.5)
            self.assertAlmostEqual(ratios["SCST/LIO"], 0.8)
            self.assertAlmostEqual(summary["ratios"]["srp_initiator bench 4k randread qd32"]["ours/SCST"], 1.5)

    def test_scst_job_missing_gives_na(self):
        """SCST ran but one of its jobs left no usable JSON: n/a, not a crash."""
        with tempfile.TemporaryDirectory() as d:
            raw = os.path.join(d, "raw-in")
            os.makedirs(raw)
            self.write_raw(raw, ("ours", "lio", "scst"))
            os.remove(os.path.join(raw, "r1-scst-128k-read-qd8.json"))
            out, table = results.write_vm(raw, os.path.join(d, "res"), "icount", "2", "abc123")
            self.assertIn("| 128k-read-qd8 | 1200 | 1000 | n/a | 1.20 | n/a | 4.9/4.1/n/a |", table)
            self.assertIn("| 128k-read-qd8 | 50/50/n/a | 100/100/n/a |", table)
            summary = load(os.path.join(out, "summary.json"))
            self.assertIsNone(summary["ratios"]["128k-read-qd8"]["ours/SCST"])

    def test_rounds_mean_spread_and_ratio_of_means(self):
        """Two rounds: every figure is the mean, the spread is max/min - 1,
        the ratio is of the means (here not the mean of the ratios)."""
        with tempfile.TemporaryDirectory() as d:
            raw = os.path.join(d, "raw-in")
            os.makedirs(raw)
            iops = {"ours": (1100.0, 1300.0), "lio": (1000.0, 1200.0)}
            p99 = {"ours": (100.0, 300.0), "lio": (200.0, 200.0)}
            for t in iops:
                for r in (1, 2):
                    write(os.path.join(raw, f"r{r}-{t}-4k-randread-qd32.json"),
                          json.dumps(fio(iops[t][r - 1], p99_us=p99[t][r - 1])))
            out, table = results.write_vm(raw, os.path.join(d, "res"), "icount", "5", "abc123")
            summary = load(os.path.join(out, "summary.json"))
            self.assertEqual(summary["rounds"], 2)
            ours = summary["jobs"]["4k-randread-qd32"]["ours"]
            self.assertAlmostEqual(ours["iops"], 1200)
            self.assertAlmostEqual(ours["p99_us"], 200)
            self.assertAlmostEqual(ours["spread_pct"]["iops"], (1300 / 1100 - 1) * 100)
            self.assertEqual([r["iops"] for r in ours["rounds"]], [1100, 1300])
            self.assertAlmostEqual(summary["jobs"]["4k-randread-qd32"]["lio"]["spread_pct"]["iops"], 20.0)
            self.assertAlmostEqual(summary["ratios"]["4k-randread-qd32"]["ours/LIO"], 1200 / 1100)
            self.assertIn("| 4k-randread-qd32 | 1200 (18.2%) | 1100 (20.0%) | 1.09 |", table)
            self.assertIn("| 4k-randread-qd32 | 100/100 | 200/200 |", table)
            self.assertIn("2 rounds", table)
            self.assertIn("max/min - 1", table)

    def test_cpu_memory_and_perftest(self):
        """CPU time per I/O from the samples (system busy, srp_target, LIO's
        threads by name, by tid across a kworker's rename), RSS, kernel
        memory against the target's baseline, and the fraction of ib_read_bw."""
        with tempfile.TemporaryDirectory() as d:
            raw = os.path.join(d, "raw-in")
            os.makedirs(raw)
            job = "128k-read-qd8"
            bs = 128 * 1024
            for r, busy_ticks in ((1, 100), (2, 110)):  # 1000 I/Os a round: 1000 and 1100 us/IO
                sectors = (5000, 5000 + 1000 * bs // 512)
                write(os.path.join(raw, f"r{r}-ours-{job}.json"), json.dumps(fio(100.0, bs=bs)))
                write(os.path.join(raw, f"r{r}-ours-{job}.cpu"),
                      samples((1000, 1000 + busy_ticks), sectors, proc=(50, 90), mem=(1000, 3048),
                              status=(("VmRSS", 20480), ("RssAnon", 10240))))
                write(os.path.join(raw, f"r{r}-ours-base.mem"), "mem 1000 0 \n")
                write(os.path.join(raw, f"r{r}-lio-{job}.json"), json.dumps(fio(50.0, bs=bs)))
                kthreads = ((50, ("kworker/0:1-ib-comp-wq",) * 2, (10, 30)),           # 20 ticks
                            (51, ("kworker/0:2-events", "kworker/0:2-target_completion"), (10, 15)),  # 5
                            (52, ("ksoftirqd/0",) * 2, (100, 200)))                      # not LIO's
                write(os.path.join(raw, f"r{r}-lio-{job}.cpu"),
                      samples((0, 200), sectors, kthreads=kthreads, mem=(5000, 5000)))
            write(os.path.join(raw, "perftest-read_bw.txt"),
                  " #bytes     #iterations    BW peak[MB/sec]    BW average[MB/sec]   MsgRate[Mpps]\n"
                  " 131072     500              250.00             200.00   \t\t   0.001600\n")
            write(os.path.join(raw, "perftest-read_lat.txt"),
                  " #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]\n"
                  " 8       500          119.75         6790.78      157.92   \t       204.11\n")
            out, table = results.write_vm(raw, os.path.join(d, "res"), "icount", "5", "abc123")
            summary = load(os.path.join(out, "summary.json"))
            ours = summary["jobs"][job]["ours"]
            self.assertAlmostEqual(ours["cpu_busy_us_per_io"], 1050)
            self.assertAlmostEqual(ours["spread_pct"]["cpu_busy_us_per_io"], 10.0)
            self.assertAlmostEqual(ours["target_cpu_us_per_io"], 400)
            self.assertAlmostEqual(ours["rss_mib"], 20)
            self.assertAlmostEqual(ours["rss_anon_mib"], 10)
            self.assertAlmostEqual(ours["kmem_mib"], 2)
            lio = summary["jobs"][job]["lio"]
            self.assertAlmostEqual(lio["cpu_busy_us_per_io"], 2000)
            self.assertAlmostEqual(lio["kthread_cpu_us_per_io"], 250)
            self.assertNotIn("kmem_mib", lio)  # no baseline file
            self.assertNotIn("target_cpu_us_per_io", lio)
            self.assertAlmostEqual(summary["perftest"]["read_bw_mb_s"], 200 * 1.048576)
            self.assertAlmostEqual(summary["perftest"]["read_lat_us"], 157.92)
            self.assertNotIn("write_bw_mb_s", summary["perftest"])
            mb_s = 100 * bs / 1e6
            self.assertAlmostEqual(summary["read_bw_fraction"][job]["ours"], mb_s / (200 * 1.048576))
            self.assertIn("ib_read_bw 209.7 MB/s", table)
            self.assertIn("ib_read_lat 8 B typical 157.9 us", table)
            self.assertIn(f"| {job} | 100 (0.0%) | 50 (0.0%) | 2.00 | 13.1/6.6 | 0.06/0.03 |", table)
            self.assertIn(f"| {job} | 1050 (10.0%)/2000 (0.0%) | 400 | 250 | 20.0 (10.0) | 2.0/n/a |", table)
            for words in ("system busy", "srp_target process", "kernel target threads", "RssAnon", "Slab"):
                self.assertIn(words, table)

    def test_slow_set_baseline_per_backing_and_backings_line(self):
        """The slow set's kernel-memory baseline is per backing; backings.txt reaches the header."""
        with tempfile.TemporaryDirectory() as d:
            raw = os.path.join(d, "raw-in")
            os.makedirs(raw)
            bs = 4096
            write(os.path.join(raw, "backings.txt"), "backings: nb1ms = null_blk at 1 ms\n")
            for t, base_kb, iops in (("ours", 1000, 900.0), ("lio", 2000, 1000.0)):
                write(os.path.join(raw, f"r1-{t}-nb1ms-base.mem"), f"mem {base_kb} 0\n")
                write(os.path.join(raw, f"r1-{t}-base.mem"), "mem 999999 0\n")  # not this backing's
                write(os.path.join(raw, f"r1-{t}-nb1ms-4k-randread-qd32.json"), json.dumps(fio(iops, bs=bs)))
                write(os.path.join(raw, f"r1-{t}-nb1ms-4k-randread-qd32.cpu"),
                      "before\nmem 0 0\ncpu 0 0 0 100 0 0 0 0\ndisk 0 0\n"
                      f"after\ncpu 100 0 0 100 0 0 0 0\ndisk {1000 * bs // 512} 0\nmem {base_kb + 2048} 0\n")
            out, table = results.write_vm(raw, os.path.join(d, "res"), "icount", "5", "abc123")
            summary = load(os.path.join(out, "summary.json"))
            per = summary["jobs"]["nb1ms-4k-randread-qd32"]
            self.assertAlmostEqual(per["ours"]["kmem_mib"], 2.0)
            self.assertAlmostEqual(per["lio"]["kmem_mib"], 2.0)
            self.assertEqual(summary["backings"], "backings: nb1ms = null_blk at 1 ms")
            self.assertIn("Backings: nb1ms = null_blk at 1 ms.", table)
            self.assertNotIn("Raw RDMA ceiling", table)  # no perftest in this set
            self.assertIn("| nb1ms-4k-randread-qd32 | 900 | 1000 | 0.90 | 3.7/4.1 |\n", table)

    def test_names_without_round_are_round_one(self):
        """Files without the r<round>- prefix count as round 1."""
        with tempfile.TemporaryDirectory() as d:
            raw = os.path.join(d, "raw-in")
            os.makedirs(raw)
            write(os.path.join(raw, "ours-nullb0-4k-randread-qd1.json"), json.dumps(fio(900.0)))
            write(os.path.join(raw, "lio-nullb0-4k-randread-qd1.json"), json.dumps(fio(1000.0)))
            out, table = results.write_vm(raw, os.path.join(d, "res"), "icount", "4", "abc123")
            self.assertIn("| nullb0-4k-randread-qd1 | 900 | 1000 | 0.90 |", table)


class LoopbackResults(unittest.TestCase):
    def test_joins_timing_and_callgrind(self):
        with tempfile.TemporaryDirectory() as d:
            raw = os.path.join(d, "raw-in")
            os.makedirs(raw)
            config = {"group": "io", "op": "read", "bytes": 4096, "channels": 1, "qd": 8, "pollers": 1}
            with open(os.path.join(raw, "timing.jsonl"), "w") as f:
                f.write(json.dumps(dict(config, iops=200000, target_cpu_ns_per_io=2300.0)) + "\n")
                f.write(json.dumps(dict(config, group="qd", qd=1, iops=50000, target_cpu_ns_per_io=9900.0)) + "\n")
            with open(os.path.join(raw, "callgrind.jsonl"), "w") as f:
                f.write(json.dumps(dict(config, ir_per_io=7500.0, ir_fabric_per_io=2600.0,
                                        ir_target_per_io=4900.0)) + "\n")
            out, table = results.write_loopback(raw, os.path.join(d, "res"), "abc123")
            self.assertTrue(out.endswith("-abc123-loopback"))
            self.assertIn("| io | 4k read | 1 | 8 | 1 | 200000 | 2300 | 7500 | 2600 | 4900 |", table)
            self.assertIn("| qd | 4k read | 1 | 1 | 1 | 50000 | 9900 | n/a | n/a | n/a |", table)
            self.assertTrue(os.path.exists(os.path.join(out, "raw", "timing.jsonl")))


if __name__ == "__main__":
    unittest.main()
