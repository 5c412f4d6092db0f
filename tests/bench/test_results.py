#!/usr/bin/env python3
"""scripts/bench/results.py on canned fio and loopback_cost JSON: the results
folder, the table's header and columns, the ratios. No VM needed."""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "bench"))
import results  # noqa: E402


def fio(read_iops, write_iops=0.0, p99_us=100.0):
    side = lambda iops: {"iops": iops, "io_bytes": int(iops * 4096), "bw_bytes": int(iops * 4096),
                         "clat_ns": {"percentile": {"50.000000": p99_us * 500, "99.000000": p99_us * 1000}}}
    return {"fio version": "fio-3.33", "jobs": [{"read": side(read_iops), "write": side(write_iops)}]}


class VmResults(unittest.TestCase):
    def write_raw(self, raw, targets):
        figures = {"ours": 1200.0, "lio": 1000.0, "scst": 800.0}
        for t in targets:
            for job in ("4k-randread-qd32", "128k-read-qd8"):
                with open(os.path.join(raw, f"{t}-{job}.json"), "w") as f:
                    f.write("fio: a warning line before the JSON\n" + json.dumps(fio(figures[t])))
            with open(os.path.join(raw, f"{t}-srp_initiator.json"), "w") as f:
                f.write(json.dumps({"iops": figures[t] * 2, "latency_us": {"p50": 10, "p99": 40}}) + "\n")
        with open(os.path.join(raw, "lio-broken-job.json"), "w") as f:
            f.write("not json")

    def test_without_scst_has_no_scst_column(self):
        with tempfile.TemporaryDirectory() as d:
            raw = os.path.join(d, "raw-in")
            os.makedirs(raw)
            self.write_raw(raw, ("ours", "lio"))
            out, table = results.write_vm(raw, os.path.join(d, "res"), "icount", "2", "abc123")
            self.assertIn("abc123", os.path.basename(out))
            for name in ("summary.json", "table.md", os.path.join("raw", "ours-4k-randread-qd32.json")):
                self.assertTrue(os.path.exists(os.path.join(out, name)), name)
            self.assertIn("timing mode **icount**", table)
            self.assertIn("instruction costs", table)
            self.assertIn("commit `abc123`", table)
            self.assertNotIn("ours/SCST", table)
            self.assertIn("SCST did not run", table)
            self.assertIn("| 4k-randread-qd32 | 1200 | 1000 | 1.20 |", table)
            summary = json.load(open(os.path.join(out, "summary.json")))
            self.assertEqual(summary["timing_mode"], "icount")
            self.assertAlmostEqual(summary["ratios"]["128k-read-qd8"]["ours/LIO"], 1.2)
            self.assertEqual(summary["targets"], ["ours", "lio"])
            self.assertEqual(set(summary["ratios"]["128k-read-qd8"]), {"ours/LIO"})
            self.assertAlmostEqual(summary["jobs"]["srp_initiator bench 4k randread qd32"]["ours"]["iops"], 2400)
            self.assertNotIn("broken-job", summary["jobs"])
            try:
                import matplotlib  # noqa: F401
                self.assertGreater(os.path.getsize(os.path.join(out, "chart.png")), 1000)
            except ImportError:
                pass

    def test_with_scst_adds_its_column_and_ratio(self):
        with tempfile.TemporaryDirectory() as d:
            raw = os.path.join(d, "raw-in")
            os.makedirs(raw)
            self.write_raw(raw, ("ours", "lio", "scst"))
            out, table = results.write_vm(raw, os.path.join(d, "res"), "tcg", "5", "abc123")
            self.assertIn("ours/SCST", table)
            self.assertIn("not hardware speeds", table)
            self.assertNotIn("SCST did not run", table)
            self.assertIn("| job | ours IOPS | LIO IOPS | SCST IOPS | ours/LIO | ours/SCST | p99 us ours/LIO/SCST |",
                          table)
            self.assertIn("| 4k-randread-qd32 | 1200 | 1000 | 800 | 1.20 | 1.50 | 100/100/100 |", table)
            self.assertIn("| srp_initiator bench 4k randread qd32 | 2400 | 2000 | 1600 | 1.20 | 1.50 |", table)
            summary = json.load(open(os.path.join(out, "summary.json")))
            self.assertEqual(summary["targets"], ["ours", "lio", "scst"])
            self.assertAlmostEqual(summary["jobs"]["128k-read-qd8"]["scst"]["iops"], 800)
            ratios = summary["ratios"]["4k-randread-qd32"]
            self.assertEqual(set(ratios), {"ours/LIO", "ours/SCST", "SCST/LIO"})
            self.assertAlmostEqual(ratios["ours/SCST"], 1.5)
            self.assertAlmostEqual(ratios["SCST/LIO"], 0.8)
            self.assertAlmostEqual(summary["ratios"]["srp_initiator bench 4k randread qd32"]["ours/SCST"], 1.5)
            try:
                import matplotlib  # noqa: F401
                self.assertGreater(os.path.getsize(os.path.join(out, "chart.png")), 1000)
            except ImportError:
                pass

    def test_scst_job_missing_gives_na(self):
        """SCST ran but one of its jobs left no usable JSON: n/a, not a crash."""
        with tempfile.TemporaryDirectory() as d:
            raw = os.path.join(d, "raw-in")
            os.makedirs(raw)
            self.write_raw(raw, ("ours", "lio", "scst"))
            os.remove(os.path.join(raw, "scst-128k-read-qd8.json"))
            out, table = results.write_vm(raw, os.path.join(d, "res"), "icount", "2", "abc123")
            self.assertIn("| 128k-read-qd8 | 1200 | 1000 | n/a | 1.20 | n/a | 100/100/n/a |", table)
            summary = json.load(open(os.path.join(out, "summary.json")))
            self.assertIsNone(summary["ratios"]["128k-read-qd8"]["ours/SCST"])


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
