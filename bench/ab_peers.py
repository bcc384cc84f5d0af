"""The A/B benchmark's data and its Python peers.

  python bench/ab_peers.py gen OUT.parquet N      # N users, 2 arms, 5 metrics, 1 covariate
  python bench/ab_peers.py polars FILE            # polars aggregation + gbstats
  python bench/ab_peers.py pandas FILE            # pandas aggregation + gbstats

The peers do what `assay ab analyze` does on the same file: per-arm sufficient statistics
(n, sums, sums of squares, the ratio's and CUPED's cross-products), then GrowthBook's
engine for each metric: the fixed-horizon and sequential t tests and the Bayesian test,
relative lift. They print the lifts so that the run can be checked against assay's."""
import sys



def gen(out, n):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(42)
    chunk = 1_000_000
    writer = None
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        treated = rng.random(m) < 0.5
        pre = rng.lognormal(1.5, 0.8, m)
        sessions = rng.poisson(3, m) + 1
        table = pa.table({
            "variant": np.where(treated, "candidate", "control"),
            "converted": (rng.random(m) < np.where(treated, 0.105, 0.10)).astype(np.int64),
            "thumbs_up": (rng.random(m) < np.where(treated, 0.62, 0.60)).astype(np.int64),
            "revenue": 0.5 * pre + rng.lognormal(1.0, 1.0, m) * np.where(treated, 1.02, 1.0),
            "pre_revenue": pre,
            "messages": rng.binomial(sessions * 4, np.where(treated, 0.51, 0.5)).astype(np.int64),
            "sessions": sessions.astype(np.int64),
            "latency_ms": rng.gamma(4, 100, m),
        })
        if writer is None:
            writer = pq.ParquetWriter(out, table.schema, compression="snappy")
        writer.write_table(table, row_group_size=chunk)
    writer.close()


def stats_from_sums(row, n):
    from gbstats.models.statistics import (ProportionStatistic, RatioStatistic,
                                           RegressionAdjustedStatistic, SampleMeanStatistic)
    out = {}
    for m in ["converted", "thumbs_up"]:
        out[m] = ProportionStatistic(n=n, sum=row[f"{m}_s"])
    out["latency_ms"] = SampleMeanStatistic(n=n, sum=row["latency_ms_s"], sum_squares=row["latency_ms_q"])
    out["revenue"] = RegressionAdjustedStatistic(
        n=n,
        post_statistic=SampleMeanStatistic(n=n, sum=row["revenue_s"], sum_squares=row["revenue_q"]),
        pre_statistic=SampleMeanStatistic(n=n, sum=row["pre_revenue_s"], sum_squares=row["pre_revenue_q"]),
        post_pre_sum_of_products=row["revenue_pre"], theta=0)
    out["messages_per_session"] = RatioStatistic(
        n=n,
        m_statistic=SampleMeanStatistic(n=n, sum=row["messages_s"], sum_squares=row["messages_q"]),
        d_statistic=SampleMeanStatistic(n=n, sum=row["sessions_s"], sum_squares=row["sessions_q"]),
        m_d_sum_of_products=row["messages_sessions"])
    return out


def analyse(rows):
    from gbstats.bayesian.tests import EffectBayesianABTest
    from gbstats.frequentist.tests import SequentialTwoSidedTTest, TwoSidedTTest
    a = stats_from_sums(rows["control"], int(rows["control"]["n"]))
    b = stats_from_sums(rows["candidate"], int(rows["candidate"]["n"]))
    for m in a:
        fixed = TwoSidedTTest(a[m], b[m]).compute_result()
        seq = SequentialTwoSidedTTest(a[m], b[m]).compute_result()
        bayes = EffectBayesianABTest(a[m], b[m]).compute_result()
        print(f"{m}: lift {fixed.expected:+.6f} fixed {fixed.ci} seq {seq.ci} ctw {bayes.chance_to_win:.4f}")


def polars(path):
    import polars as pl
    c = pl.col
    aggs = [pl.len().alias("n")]
    for m in ["converted", "thumbs_up", "revenue", "pre_revenue", "messages", "sessions", "latency_ms"]:
        aggs += [c(m).sum().cast(pl.Float64).alias(f"{m}_s"),
                 (c(m).cast(pl.Float64) ** 2).sum().alias(f"{m}_q")]
    aggs += [(c("revenue") * c("pre_revenue")).sum().alias("revenue_pre"),
             (c("messages") * c("sessions")).sum().cast(pl.Float64).alias("messages_sessions")]
    df = pl.scan_parquet(path).group_by("variant").agg(aggs).collect()
    analyse({r["variant"]: r for r in df.to_dicts()})


def pandas(path):
    import pandas as pd
    df = pd.read_parquet(path)
    for m in ["converted", "thumbs_up", "revenue", "pre_revenue", "messages", "sessions", "latency_ms"]:
        df[f"{m}_q"] = df[m].astype(float) ** 2
    df["revenue_pre"] = df["revenue"] * df["pre_revenue"]
    df["messages_sessions"] = (df["messages"] * df["sessions"]).astype(float)
    g = df.groupby("variant")
    sums = g.sum(numeric_only=True)
    rows = {}
    for v in sums.index:
        r = {f"{k}_s" if not k.endswith(("_q", "_pre", "_sessions")) else k: float(x)
             for k, x in sums.loc[v].items()}
        r["n"] = int(g.size()[v])
        rows[v] = r
    analyse(rows)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(sys.argv[2], int(sys.argv[3]))
    elif cmd == "polars":
        polars(sys.argv[2])
    elif cmd == "pandas":
        pandas(sys.argv[2])
