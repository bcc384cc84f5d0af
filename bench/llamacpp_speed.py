"""llama.cpp's side of bench/run.sh, on the same HellaSwag items and GGUF as assay.

Two ways of scoring, both with llama-cpp-python's llama.cpp build:
- per-choice: every ending scored with its full context, one sequence at a time (what
  lm-evaluation-harness asks of a backend);
- best: llama.cpp's own `llama-perplexity --hellaswag` (context once per item, endings as
  parallel sequences sharing its KV cache, up to 32 items per batch). Its rate is taken
  from the difference of two runs of different lengths, so model loading cancels out.
Also greedy decoding tokens/second. Prints one JSON object.

python bench/llamacpp_speed.py MODEL HELLASWAG_TXT ITEMS THREADS LLAMA_PERPLEXITY_BIN
"""
import json
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
from llama_cpp import Llama

model, data, items, threads, perplexity_bin = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
lines = open(data, encoding="utf-8").read().split("\n")


def preprocess(text):
    # lm-evaluation-harness's HellaSwag cleaning, as assay's task applies it.
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def capitalize_last_fragment(text):
    i = text.rfind(". ")
    start = 0 if i < 0 else i + 2
    tail = text[start:]
    if tail[:1].islower():
        return text[:start] + tail[0].upper() + tail[1:]
    return text


def item(i):
    block = lines[6 * i : 6 * i + 6]
    return preprocess(capitalize_last_fragment(block[0])), int(block[1]), [preprocess(e) for e in block[2:6]]


llm = Llama(model_path=model, n_ctx=1024, n_batch=512, n_threads=threads, n_threads_batch=threads,
            logits_all=True, verbose=False)


def logprob(context, continuation):
    ctx = llm.tokenize(context.encode(), add_bos=False, special=True)
    whole = llm.tokenize((context + continuation).encode(), add_bos=False, special=True)
    llm.reset()
    llm.eval(whole)
    logits = np.asarray(llm.scores[: len(whole)], dtype=np.float64)
    rows = logits[len(ctx) - 1 : len(whole) - 1]
    lse = np.log(np.exp(rows - rows.max(axis=1, keepdims=True)).sum(axis=1)) + rows.max(axis=1)
    return float(sum(rows[j, t] - lse[j] for j, t in enumerate(whole[len(ctx):]))), len(whole)


logprob(*item(items)[:1], " warm up")  # warm-up outside the timed items
t = time.perf_counter()
correct = 0
tokens = 0
for i in range(items):
    context, gold, endings = item(i)
    scores = []
    for e in endings:
        lp, n = logprob(context, " " + e)
        scores.append(lp)
        tokens += n
    correct += int(np.argmax(scores) == gold)
per_choice_s = time.perf_counter() - t


def perplexity_run(n):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(lines[: 6 * n]) + "\n")
    t = time.perf_counter()
    out = subprocess.run([perplexity_bin, "-m", model, "-f", f.name, "--hellaswag", "--hellaswag-tasks", str(n),
                          "-t", str(threads), "-tb", str(threads), "-c", "512", "-b", "2048"],
                         capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - t
    last = [l for l in out.stdout.splitlines() if re.match(r"^\d+\t", l)]
    return elapsed, float(last[-1].split("\t")[1].rstrip("%")) if last else None


small = max(4, items // 10)
t_small, _ = perplexity_run(small)
t_full, acc_norm = perplexity_run(items)

prompt = ("Question: Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
          "muffins for her friends every day with four. She sells the remainder at the farmers' market daily for "
          "$2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?\nAnswer:")
gen = Llama(model_path=model, n_ctx=1024, n_batch=512, n_threads=threads, n_threads_batch=threads, verbose=False)
ptoks = gen.tokenize(prompt.encode(), add_bos=False, special=True)


def generate(n):
    gen.reset()
    t = time.perf_counter()
    count = 0
    for tok in gen.generate(ptoks, temp=0.0, top_k=1, reset=True):
        count += 1
        if count == n:
            break
    return time.perf_counter() - t, count


generate(8)
t1, n1 = generate(1)
t2, n2 = generate(129)
print(json.dumps({
    "engine": "llama.cpp (llama-cpp-python " + __import__("llama_cpp").__version__ + ")",
    "threads": threads,
    "items": items,
    "per_choice_s": per_choice_s,
    "per_choice_items_per_s": items / per_choice_s,
    "per_choice_acc": correct / items,
    "per_choice_tokens": tokens,
    "best_items_per_s": (items - small) / (t_full - t_small),
    "best_acc_norm_percent": acc_norm,
    "prompt_tokens": len(ptoks),
    "prefill_tokens_per_s": len(ptoks) / t1,
    "decode_tokens_per_s": (n2 - n1) / (t2 - t1),
}))
