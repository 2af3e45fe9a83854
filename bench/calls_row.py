"""One row of the calls table of bench/calls.sh and bench/scale.sh, from the driver's output and the
/metrics of every server instance in the run (histograms and counters summed over instances).
server_cpu_seconds lines in the driver's file (one per instance) are summed too.
Usage: calls_row.py DRIVER_TXT RATE METRICS_TXT...  |  calls_row.py --header  |  calls_row.py --verdict SUMMARY_TXT"""
import re
import sys


def header():
    print("                              in the server, ms                   as the driver saw it, ms     driver")
    print("webhook/s  steady  calls done  webhook->command     reply commit   round trip  written    loop  driver  server")
    print("requested reached  /placed      p50    p99  p99.9    p99    p99     p50    p99  ->200 p99 lag p99 CPU   us/webhook")


def row(driver_path, rate, metrics_paths):
    texts = [open(p).read() for p in metrics_paths]
    driver = open(driver_path).read()

    def histogram(name):
        buckets, total = {}, 0
        for text in texts:
            for le, c in re.findall(name + r'_bucket\{le="([^"]+)"\} (\d+)', text):
                bound = float("inf") if le == "+Inf" else float(le)
                buckets[bound] = buckets.get(bound, 0) + int(c)
            total += int((re.search(name + r"_count (\d+)", text) or [0, 0])[1])

        def q(p):
            for bound in sorted(buckets):
                if buckets[bound] >= p * total:
                    return bound
        return q

    def ms(b):
        return "%.2f" % (b * 1000) if b not in (None, float("inf")) else ">10000"

    def field(pattern, default="-"):
        m = re.search(pattern, driver)
        return m.group(1) if m else default

    w2c, reply, commit = (histogram("callflow_" + n) for n in ("webhook_to_command_seconds", "webhook_handling_seconds", "store_commit_seconds"))
    webhooks = sum(int(n) for text in texts for n in re.findall(r"callflow_webhooks_total\{[^}]*\} (\d+)", text))
    cpu = sum(float(x) for x in re.findall(r"server_cpu_seconds: ([\d.]+)", driver))
    per = "%.0f" % (cpu * 1e6 / webhooks) if webhooks else "-"
    done = "%s/%s" % (field(r"calls_completed: (\d+)"), field(r"calls_placed: (\d+)"))
    print("%6s %7s %11s  %6s %6s %6s  %6s %6s  %6s %6s %6s  %6s %4s%%  %6s" % (
        rate, field(r"webhooks_per_second_steady: (\d+)"), done, ms(w2c(0.5)), ms(w2c(0.99)), ms(w2c(0.999)),
        ms(reply(0.99)), ms(commit(0.99)), field(r"webhook_answered_ms .*?: p50 ([\d.]+)"),
        field(r"webhook_answered_ms .*? p99 ([\d.]+)"), field(r"round_trip_part_ms \(request written.*? p99 ([\d.]+)"),
        field(r"driver_loop_lag_ms .*? p99 ([\d.]+)"), field(r"driver_cpu_seconds: [\d.]+ \((\d+)%"), per))


def verdict(summary_path):
    # columns: 0 rate, 1 steady, 2 done, 3-5 webhook->command, 6 reply, 7 commit, 8-9 round trip, 10 written->200, 11 lag
    rows = [line.split() for line in open(summary_path) if line.strip()]

    def val(s):
        return float("inf") if s.startswith(">") else float(s)
    knee = next((r[0] for r in rows if val(r[4]) > 10), None)
    print("knee (first rate with p99 webhook->command > 10 ms):", knee + "/s" if knee else "not reached up to %s/s" % rows[-1][0])
    for r in rows:
        if float(r[0]) <= 2000:
            print("target p99 < 2 ms at %s/s:" % r[0], "met" if val(r[4]) <= 2 else "not met (%s ms)" % r[4])
        if float(r[0]) == 1000:
            print("target round trip p99 < 5 ms at 1000/s:", "met" if r[9] != "-" and float(r[9]) < 5 else "not met (%s ms)" % r[9])


if sys.argv[1] == "--header":
    header()
elif sys.argv[1] == "--verdict":
    verdict(sys.argv[2])
else:
    row(sys.argv[1], sys.argv[2], sys.argv[3:])
