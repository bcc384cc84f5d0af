"""The Python side of bench/classifiers.sh.
  speed TEXTS_FILE: texts per second of each package, models loaded, best of 5.
  file NAME IN.csv OUT.csv: score column `text` of IN.csv into OUT.csv (row, score)."""
import csv
import json
import os
import sys
import time

os.environ.setdefault("LC_ALL", "en_US.UTF-8")


def best_of(f, n=5):
    best = float("inf")
    for _ in range(n):
        start = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - start)
    return best


def speed(path):
    texts = open(path, encoding="utf-8").read().split("\n")
    if texts and texts[-1] == "":
        texts.pop()
    import numpy as np
    import profanity_check
    from hatesonar import Sonar

    n = len(texts)
    t = best_of(lambda: profanity_check.predict_prob(texts))
    print(json.dumps({"python": "alt-profanity-check predict_prob", "texts": n, "best_s": t, "texts_per_s": n / t}))
    sonar = Sonar()
    t = best_of(lambda: [sonar.ping(x) for x in texts], 1)
    print(json.dumps({"python": "hatesonar Sonar.ping per text", "texts": n, "best_s": t, "texts_per_s": n / t}))
    batch = np.array(texts, dtype=object)
    try:
        sonar.sess.run(None, {"text": batch})
        t = best_of(lambda: sonar.sess.run(None, {"text": batch}))
        print(json.dumps({"python": "hatesonar one onnxruntime call", "texts": n, "best_s": t, "texts_per_s": n / t}))
    except Exception as e:  # the graph may not take a batch
        print(json.dumps({"python": "hatesonar one onnxruntime call", "error": str(e)[:200]}))


def score_file(name, src, dst):
    with open(src, newline="", encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    if name == "alt-profanity-check":
        import profanity_check
        scores = profanity_check.predict_prob(texts)
    else:
        from hatesonar import Sonar
        sonar = Sonar()
        scores = [1.0 - sonar.ping(t)["classes"][2]["confidence"] for t in texts]
    with open(dst, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row", "score"])
        for i, s in enumerate(scores):
            w.writerow([i + 2, float(s)])


if __name__ == "__main__":
    if sys.argv[1] == "speed":
        speed(sys.argv[2])
    else:
        score_file(*sys.argv[2:5])
