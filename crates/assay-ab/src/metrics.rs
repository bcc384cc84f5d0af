//! Which metrics an analysis reads and how: goal, guardrail and secondary lists, with
//! their ratios, CUPED covariates, caps and margins, resolved into [`MetricSpec`]s. The
//! command line (`assay ab analyze` flags) and the pipeline file (an `ab` stage's keys)
//! both describe an analysis this way.

use crate::Error;
use crate::aggregate::{Cap, MetricSpec, Role};
use assay_stats::domain::{Finite, NonNegative, Probability};

/// Metric lists as a user writes them. `prefix` is how a setting is named in messages:
/// `--` for flags (`--covariate`), empty for a file's keys (`covariate`).
#[derive(Clone, Debug, Default)]
pub struct MetricLists {
    pub goals: Vec<String>,
    pub guardrails: Vec<String>,
    pub secondary: Vec<String>,
    pub lower_is_better: Vec<String>,
    /// (name, `NUMERATOR/DENOMINATOR`).
    pub ratios: Vec<(String, String)>,
    /// (name, `COLUMN@Q`): the quantile Q (`95%` or `0.95`) of a column per arm.
    pub quantiles: Vec<(String, String)>,
    /// (metric, pre-period column).
    pub covariates: Vec<(String, String)>,
    /// (metric, `VALUE` or `Q%`).
    pub caps: Vec<(String, String)>,
    /// (guardrail metric, relative tolerance such as `2%`).
    pub margins: Vec<(String, String)>,
}

fn unique<'a>(
    prefix: &str,
    setting: &str,
    items: &'a [(String, String)],
) -> Result<Vec<(&'a str, &'a str)>, Error> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for (name, value) in items {
        let (name, value) = (name.trim(), value.trim());
        if out.iter().any(|(n, _)| *n == name) {
            return Err(Error::Input(format!(
                "{prefix}{setting}: `{name}` is given twice"
            )));
        }
        out.push((name, value));
    }
    Ok(out)
}

impl MetricLists {
    /// The specs, in the order goals, guardrails, secondary; every name a setting
    /// refers to must be one of them.
    pub fn specs(&self, prefix: &str) -> Result<Vec<MetricSpec>, Error> {
        let ratios: Vec<(&str, (&str, &str))> = unique(prefix, "ratio", &self.ratios)?
            .into_iter()
            .map(|(name, expr)| {
                expr.split_once('/')
                    .map(|(n, d)| (name, (n.trim(), d.trim())))
                    .ok_or_else(|| {
                        Error::Input(format!(
                            "{prefix}ratio {name}={expr}: write NAME=NUMERATOR/DENOMINATOR"
                        ))
                    })
            })
            .collect::<Result<_, _>>()?;
        let quantiles: Vec<(&str, (&str, f64))> = unique(prefix, "quantile", &self.quantiles)?
            .into_iter()
            .map(|(name, expr)| {
                let (column, level) = expr.rsplit_once('@').ok_or_else(|| {
                    Error::Input(format!(
                        "{prefix}quantile {name}={expr}: write NAME=COLUMN@95% (or COLUMN@0.95)"
                    ))
                })?;
                let level = level
                    .trim()
                    .parse::<Probability>()
                    .map_err(|e| Error::Input(format!("{prefix}quantile {name}={expr}: {e}")))?;
                if ratios.iter().any(|(n, _)| *n == name) {
                    return Err(Error::Input(format!(
                        "{prefix}quantile {name}: `{name}` is also a ratio; a metric is one or the other"
                    )));
                }
                Ok((name, (column.trim(), level.get())))
            })
            .collect::<Result<_, _>>()?;
        let mut out: Vec<MetricSpec> = Vec::new();
        for (list, role) in [
            (&self.goals, Role::Goal),
            (&self.guardrails, Role::Guardrail),
            (&self.secondary, Role::Secondary),
        ] {
            for name in list.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
                if out.iter().any(|m| m.name == name) {
                    return Err(Error::Input(format!(
                        "metric `{name}` is named twice (in {prefix}metrics, {prefix}guardrails or {prefix}secondary)"
                    )));
                }
                let (column, denominator) = match ratios.iter().find(|(n, _)| *n == name) {
                    Some((_, (num, den))) => (num.to_string(), Some(den.to_string())),
                    None => (name.to_string(), None),
                };
                let (column, quantile) = match quantiles.iter().find(|(n, _)| *n == name) {
                    Some((_, (col, level))) => (col.to_string(), Some(*level)),
                    None => (column, None),
                };
                out.push(MetricSpec {
                    denominator,
                    role,
                    quantile,
                    ..MetricSpec::new(name, &column)
                });
            }
        }
        if out.is_empty() {
            return Err(Error::Input(format!(
                "no metrics: name them with {prefix}metrics (goals) and/or {prefix}guardrails"
            )));
        }
        let find = |out: &[MetricSpec], setting: &str, name: &str| -> Result<usize, Error> {
            out.iter().position(|m| m.name == name).ok_or_else(|| {
                Error::Input(format!(
                    "{prefix}{setting} names `{name}`, which is not in {prefix}metrics, {prefix}guardrails or {prefix}secondary"
                ))
            })
        };
        let value = |setting: &str, e: assay_stats::domain::DomainError| {
            Error::Input(format!("{prefix}{setting}: {e}"))
        };
        for name in self.lower_is_better.iter().map(|s| s.trim()) {
            let i = find(&out, "lower-is-better", name)?;
            out[i].lower_is_better = true;
        }
        for (name, _) in &quantiles {
            find(&out, "quantile", name)?;
        }
        for (name, col) in unique(prefix, "covariate", &self.covariates)? {
            let i = find(&out, "covariate", name)?;
            if out[i].quantile.is_some() {
                return Err(Error::Input(format!(
                    "{prefix}covariate {name}: CUPED adjusts means; `{name}` is a quantile"
                )));
            }
            // A ratio is adjusted by the same ratio in the pre-period, so it names both
            // pre-period columns.
            match (out[i].denominator.is_some(), col.split_once('/')) {
                (true, Some((num, den))) => {
                    out[i].covariate = Some(num.trim().into());
                    out[i].covariate_denominator = Some(den.trim().into());
                }
                (true, None) => {
                    return Err(Error::Input(format!(
                        "{prefix}covariate {name}={col}: `{name}` is a ratio; write \
                         {name}=PRE_NUMERATOR/PRE_DENOMINATOR (the same ratio before the experiment)"
                    )));
                }
                (false, Some(_)) => {
                    return Err(Error::Input(format!(
                        "{prefix}covariate {name}={col}: a covariate with `/` is for ratio \
                         metrics, and `{name}` is not one (declare it with {prefix}ratio)"
                    )));
                }
                (false, None) => out[i].covariate = Some(col.into()),
            }
        }
        for (name, cap) in unique(prefix, "cap", &self.caps)? {
            let i = find(&out, "cap", name)?;
            if out[i].quantile.is_some() {
                return Err(Error::Input(format!(
                    "{prefix}cap {name}: `{name}` is a quantile, which outliers do not move; no cap"
                )));
            }
            out[i].cap = Some(if cap.ends_with('%') {
                Cap::Quantile(
                    cap.parse::<Probability>()
                        .map_err(|e| value("cap", e))?
                        .get(),
                )
            } else {
                Cap::Value(cap.parse::<Finite>().map_err(|e| value("cap", e))?.get())
            });
        }
        for (name, m) in unique(prefix, "margin", &self.margins)? {
            let i = find(&out, "margin", name)?;
            if out[i].role != Role::Guardrail {
                return Err(Error::Input(format!(
                    "{prefix}margin {name}: margins apply to guardrail metrics"
                )));
            }
            out[i].margin = Some(
                m.parse::<NonNegative>()
                    .map_err(|e| value("margin", e))?
                    .get(),
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists() -> MetricLists {
        MetricLists {
            goals: vec!["revenue".into(), "ctr".into()],
            guardrails: vec!["latency".into()],
            lower_is_better: vec!["latency".into()],
            ratios: vec![("ctr".into(), "clicks / views".into())],
            covariates: vec![
                ("revenue".into(), "pre_revenue".into()),
                ("ctr".into(), "pre_clicks/pre_views".into()),
            ],
            caps: vec![("revenue".into(), "99%".into())],
            margins: vec![("latency".into(), "2%".into())],
            quantiles: vec![("p95".into(), "latency_ms@95%".into())],
            secondary: vec!["p95".into()],
        }
    }

    #[test]
    fn every_setting_lands_on_its_metric() {
        let specs = lists().specs("--").unwrap();
        assert_eq!(specs.len(), 4);
        assert_eq!(
            (specs[3].column.as_str(), specs[3].quantile),
            ("latency_ms", Some(0.95))
        );
        assert_eq!(specs[0].covariate.as_deref(), Some("pre_revenue"));
        assert_eq!(
            (
                specs[1].covariate.as_deref(),
                specs[1].covariate_denominator.as_deref()
            ),
            (Some("pre_clicks"), Some("pre_views"))
        );
        assert_eq!(specs[0].cap, Some(Cap::Quantile(0.99)));
        assert_eq!(
            (specs[1].column.as_str(), specs[1].denominator.as_deref()),
            ("clicks", Some("views"))
        );
        assert!(specs[2].lower_is_better);
        assert_eq!(specs[2].role, Role::Guardrail);
        assert_eq!(specs[2].margin, Some(0.02));
    }

    #[test]
    fn mistakes_are_named_with_the_setting() {
        let mut l = lists();
        l.covariates[1] = ("ctr".into(), "x".into());
        let e = l.specs("").unwrap_err().to_string();
        assert!(
            e.starts_with(
                "covariate ctr=x: `ctr` is a ratio; write ctr=PRE_NUMERATOR/PRE_DENOMINATOR"
            ),
            "{e}"
        );
        let mut l = lists();
        l.covariates[0] = ("revenue".into(), "a/b".into());
        let e = l.specs("--").unwrap_err().to_string();
        assert!(
            e.contains("a covariate with `/` is for ratio metrics"),
            "{e}"
        );
        let mut l = lists();
        l.margins = vec![("revenue".into(), "1%".into())];
        let e = l.specs("--").unwrap_err().to_string();
        assert_eq!(e, "--margin revenue: margins apply to guardrail metrics");
        let mut l = lists();
        l.quantiles = vec![("p95".into(), "latency_ms@1.5".into())];
        let e = l.specs("--").unwrap_err().to_string();
        assert!(
            e.contains("--quantile p95=latency_ms@1.5: `1.5` is not a probability"),
            "{e}"
        );
        let mut l = lists();
        l.quantiles = vec![("p95".into(), "latency_ms".into())];
        let e = l.specs("").unwrap_err().to_string();
        assert!(e.contains("write NAME=COLUMN@95%"), "{e}");
        let mut l = lists();
        l.lower_is_better = vec!["nope".into()];
        let e = l.specs("").unwrap_err().to_string();
        assert!(e.contains("lower-is-better names `nope`"), "{e}");
    }
}
