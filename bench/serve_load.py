"""Load for an OpenAI-compatible server: N concurrent streamed completions of M tokens
(greedy), each a different prompt; prints one JSON line with total generated tokens per
second and the time to first token (p50, p95). Tokens are counted as streamed chunks
with text, the same way for every server. Standard library only.

    python3 bench/serve_load.py http://127.0.0.1:8000/v1 MODEL 32 128
"""
import json
import statistics
import sys
import threading
import time
import urllib.request

base, model, clients, max_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
PROMPT = ("Question: Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning "
          "and bakes muffins for her friends every day with four. She sells the remainder at the "
          "farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every "
          "day at the farmers' market? (variant {i})\nAnswer:")
results = [None] * clients


def one(i):
    body = {"model": model, "prompt": PROMPT.format(i=i), "max_tokens": max_tokens,
            "temperature": 0, "stream": True, "ignore_eos": True}
    req = urllib.request.Request(f"{base}/completions", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    start = time.perf_counter()
    first, tokens = None, 0
    with urllib.request.urlopen(req) as r:
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            text = json.loads(line[6:])["choices"][0].get("text", "")
            if text:
                tokens += 1
                if first is None:
                    first = time.perf_counter() - start
    results[i] = (first, tokens, time.perf_counter() - start)


start = time.perf_counter()
threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.perf_counter() - start
ttft = sorted(r[0] for r in results if r[0] is not None)
total = sum(r[1] for r in results)
print(json.dumps({
    "clients": clients, "max_tokens": max_tokens, "wall_s": wall, "tokens": total,
    "tok_s": total / wall,
    "ttft_p50_s": statistics.median(ttft),
    "ttft_p95_s": ttft[min(len(ttft) - 1, int(0.95 * len(ttft)))],
}))
