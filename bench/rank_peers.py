"""Bradley-Terry with bootstrap intervals on the same battle log, by the Python peers:
LMArena's arena-rank (JAX, L-BFGS, multiprocessing bootstrap) and FastChat's scikit-learn
approach (logistic regression on the pair table, weights 2·wins + ties, refit per
bootstrap sample of the battles). Prints JSON: seconds per fit and per round, and the
full-data ratings. Usage: rank_peers.py BATTLES.csv ROUNDS OUT.json"""
import json, math, multiprocessing, sys, time

import numpy as np
import pandas as pd

def main():
    # JAX is multithreaded: arena-rank's fork-based pool deadlocks; spawn works.
    multiprocessing.set_start_method("spawn", force=True)
    path, rounds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    t0 = time.perf_counter()
    df = pd.read_csv(path)
    load_s = time.perf_counter() - t0
    result = {"battles": len(df), "rounds": rounds, "load_s": load_s}

    # --- arena-rank -------------------------------------------------------------------
    from arena_rank.models.bradley_terry import BradleyTerry
    from arena_rank.utils.data_utils import PairDataset

    t0 = time.perf_counter()
    dataset = PairDataset.from_pandas(df)
    model = BradleyTerry(n_competitors=len(dataset.competitors), max_iter=10000, ftol=1e-15, gtol=1e-13)
    model.fit(dataset)
    t1 = time.perf_counter()
    res = model.compute_ratings_and_cis(dataset, ci_method="bootstrap", num_bootstrap=rounds, n_jobs=2)
    result["arena_rank_fit_s"] = t1 - t0
    result["arena_rank_bootstrap_s"] = time.perf_counter() - t1
    result["arena_rank"] = {c: float(r) for c, r in zip(res["competitors"], res["ratings"])}

    # --- FastChat's scikit-learn approach ---------------------------------------------
    from sklearn.linear_model import LogisticRegression

    models = sorted(set(df.model_a) | set(df.model_b))
    idx = {m: i for i, m in enumerate(models)}
    LOG10 = math.log(10)


    def fit_sklearn(frame):
        # Pair table: wins of a over b, plus ties as half a win each (FastChat's
        # compute_mle_elo: decisive battles count twice, ties once per side).
        a = frame.model_a.map(idx).to_numpy()
        b = frame.model_b.map(idx).to_numpy()
        w = frame.winner.to_numpy()
        X, y, weight = [], [], []
        table = {}
        for ai, bi, wi in zip(a, b, w):
            if wi == "model_a":
                table[(ai, bi)] = table.get((ai, bi), 0) + 2
            elif wi == "model_b":
                table[(bi, ai)] = table.get((bi, ai), 0) + 2
            else:
                table[(ai, bi)] = table.get((ai, bi), 0) + 1
                table[(bi, ai)] = table.get((bi, ai), 0) + 1
        for (i, j), c in table.items():
            x = np.zeros(len(models))
            x[i], x[j] = LOG10, -LOG10
            X += [x, -x]
            y += [1, 0]
            weight += [c, c]
        lr = LogisticRegression(fit_intercept=False, penalty=None, tol=1e-8, max_iter=1000)
        lr.fit(np.array(X), np.array(y), sample_weight=np.array(weight, dtype=float))
        elo = 400 * lr.coef_[0]
        return elo - elo.mean() + 1000


    t0 = time.perf_counter()
    full = fit_sklearn(df)
    t1 = time.perf_counter()
    rng = np.random.default_rng(0)
    for _ in range(rounds):
        fit_sklearn(df.iloc[rng.integers(0, len(df), len(df))])
    result["sklearn_fit_s"] = t1 - t0
    result["sklearn_bootstrap_s"] = time.perf_counter() - t1
    result["sklearn"] = {m: float(full[idx[m]]) for m in models}
    json.dump(result, open(out, "w"), indent=1)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}, indent=1))


if __name__ == "__main__":
    main()
