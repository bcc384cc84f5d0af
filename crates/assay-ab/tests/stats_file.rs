//! Per-arm sums exported by a warehouse give the numbers the raw rows give, a 0/1
//! covariate included: it is read as a proportion (variance p(1 − p), as GrowthBook's
//! `ProportionStatistic` pre-period) whether declared (`covariate_type`) or seen from
//! Σx² = Σx.

use assay_ab::aggregate::{MetricSpec, Missing, aggregate, read_stats};
use assay_ab::effect::{Kind, Settings, compare};
use assay_ab::source::Source;
use rand::{Rng, SeedableRng};

#[test]
fn a_binary_covariate_from_sums_is_the_raw_rows_covariate() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut rows = String::from("variant,converted,pre_converted\n");
    let mut sums = std::collections::BTreeMap::<&str, [f64; 4]>::new();
    for i in 0..4000 {
        let arm = if i % 2 == 0 { "control" } else { "treatment" };
        let pre = u8::from(rng.gen_bool(0.3));
        let p = if pre == 1 { 0.4 } else { 0.1 } + if arm == "treatment" { 0.03 } else { 0.0 };
        let y = u8::from(rng.gen_bool(p));
        rows.push_str(&format!("{arm},{y},{pre}\n"));
        let s = sums.entry(arm).or_default();
        s[0] += 1.0;
        s[1] += f64::from(y);
        s[2] += f64::from(pre);
        s[3] += f64::from(y * pre);
    }
    let raw = dir.path().join("rows.csv");
    std::fs::write(&raw, rows).unwrap();
    let spec = MetricSpec {
        covariate: Some("pre_converted".into()),
        ..MetricSpec::new("converted", "converted")
    };
    let from_rows = aggregate(
        &Source::File(raw),
        "variant",
        None,
        &[spec],
        Missing::Error,
        1,
    )
    .unwrap();
    assert_eq!(from_rows.metrics[0].shape.covariate, Some(Kind::Proportion));

    for declared in [false, true] {
        let mut text = String::from(
            "variant,metric,units,main_sum,main_sum_squares,covariate_sum,covariate_sum_squares,main_covariate_sum_product",
        );
        text.push_str(if declared { ",covariate_type\n" } else { "\n" });
        for (arm, s) in &sums {
            text.push_str(&format!(
                "{arm},converted,{},{},{},{},{},{}{}\n",
                s[0],
                s[1],
                s[1],
                s[2],
                s[2],
                s[3],
                if declared { ",proportion" } else { "" }
            ));
        }
        let path = dir.path().join("sums.csv");
        std::fs::write(&path, text).unwrap();
        let from_sums = read_stats(&path, "variant").unwrap();
        assert_eq!(from_sums.metrics[0].shape, from_rows.metrics[0].shape);
        let settings = Settings::default();
        let c = |d: &assay_ab::aggregate::Aggregated| {
            let m = &d.metrics[0];
            let control = d.arms.iter().position(|a| a == "control").unwrap();
            compare(
                &m.arms[control],
                &m.arms[1 - control],
                m.shape,
                &settings,
                false,
            )
        };
        let (a, b) = (c(&from_rows), c(&from_sums));
        let (ra, rb) = (a.relative.unwrap(), b.relative.unwrap());
        assert!((ra.estimate - rb.estimate).abs() < 1e-9);
        assert!((ra.std_error - rb.std_error).abs() < 1e-9 * ra.std_error);
        assert!((a.theta.unwrap() - b.theta.unwrap()).abs() < 1e-9);
    }
}
