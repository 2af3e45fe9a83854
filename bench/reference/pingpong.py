"""The machine's floor for a request and its reply between two processes (bench/calls.sh): a
1-byte ping over loopback TCP from core 0 to an echo on core 1, one every millisecond, so both
sides sleep between pings and each round trip pays two wake-ups, as a webhook and its 200 do.
Prints p50/p99/p99.9 in ms. Usage: python3 pingpong.py [SECONDS]"""
import os, socket, sys, time

secs = float(sys.argv[1]) if len(sys.argv) > 1 else 5
listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(1)
port = listener.getsockname()[1]
if os.fork() == 0:
    os.sched_setaffinity(0, {1})
    conn, _ = listener.accept(); conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while (b := conn.recv(1)):
        conn.sendall(b)
    os._exit(0)
os.sched_setaffinity(0, {0})
client = socket.create_connection(("127.0.0.1", port)); client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
rtts, end = [], time.monotonic() + secs
while time.monotonic() < end:
    t = time.perf_counter(); client.sendall(b"x"); client.recv(1); rtts.append((time.perf_counter() - t) * 1000)
    time.sleep(0.001)
client.close(); os.wait()
rtts.sort(); n = len(rtts)
print("machine floor, a 1-byte ping between core 0 and core 1 (%d, one per ms): p50 %.2f p99 %.2f p99.9 %.2f max %.2f ms"
      % (n, rtts[n // 2], rtts[int(n * 0.99)], rtts[int(n * 0.999)], rtts[-1]))
