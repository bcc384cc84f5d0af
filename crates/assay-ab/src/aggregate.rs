//! Per-unit rows folded into sufficient statistics per arm and metric (and per exposure
//! day, for the cumulative view), or read already aggregated from a warehouse export.

use crate::Error;
use crate::effect::{Kind, QuantileStat, Shape};
use crate::moments::{COVARIATE, COVARIATE_DENOMINATOR, Moments, PAIRS, VALUES};
use crate::source::{
    Batch, Columns, Locate, RowSink, SegmentSink, Source, Split, intern, rows_one_by_one,
};
use assay_stats::domain::Count;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// What the launch is meant to improve; corrected for multiplicity.
    Goal,
    /// Must not be harmed; a significant harm blocks the launch.
    Guardrail,
    /// Reported only.
    Secondary,
}

/// Winsorising: values above the cap count as the cap.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cap {
    Value(f64),
    /// A quantile (0 < q < 1) over all units of all arms, as GrowthBook's percentile caps.
    Quantile(f64),
}

/// What to do with a unit whose metric value is empty or null.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// Stop with the row named.
    #[default]
    Error,
    /// Count it as 0 (as engines do for units without events).
    Zero,
    /// Leave the unit out of that metric.
    Skip,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSpec {
    pub name: String,
    pub column: String,
    pub denominator: Option<String>,
    /// CUPED's pre-period value of the metric (of a ratio's numerator).
    pub covariate: Option<String>,
    /// A ratio's pre-period denominator, for CUPED on ratio metrics.
    #[serde(default)]
    pub covariate_denominator: Option<String>,
    pub role: Role,
    pub lower_is_better: bool,
    pub cap: Option<Cap>,
    /// Guardrail tolerance on the relative lift (e.g. 0.02 = 2%): the launch waits while
    /// the interval still allows a harm larger than this.
    pub margin: Option<f64>,
    /// A quantile metric: the level ν (0.95 for the 95th percentile) of `column` per arm,
    /// compared instead of the mean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
}

impl MetricSpec {
    /// A goal metric read from one column, without ratio, covariate, cap, margin or
    /// quantile (the other fields are set after).
    pub fn new(name: &str, column: &str) -> MetricSpec {
        MetricSpec {
            name: name.to_owned(),
            column: column.to_owned(),
            denominator: None,
            covariate: None,
            covariate_denominator: None,
            role: Role::Goal,
            lower_is_better: false,
            cap: None,
            margin: None,
            quantile: None,
        }
    }
}

/// Statistics of one metric, per arm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricData {
    pub spec: MetricSpec,
    pub shape: Shape,
    pub arms: Vec<Moments>,
    /// The cap applied, when one was asked for.
    pub cap_value: Option<f64>,
    /// Units capped, over all arms.
    pub capped: u64,
    /// Units left out for an empty value (`Missing::Skip`) or counted as 0 (`Zero`).
    pub missing: u64,
    /// Units without the covariate (counted as 0, as GrowthBook's pre-period SQL does).
    pub covariate_missing: u64,
    pub first_missing_at: Option<String>,
    /// A quantile metric's quantile per arm (None for an arm without values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantiles: Option<Vec<Option<QuantileStat>>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Aggregated {
    pub source: String,
    pub arms: Vec<String>,
    pub units: Vec<u64>,
    pub metrics: Vec<MetricData>,
    /// Per exposure day (days since 1970-01-01): moments [metric][arm] of the units first
    /// exposed that day.
    pub days: BTreeMap<i64, Vec<Vec<Moments>>>,
    pub rows: u64,
    /// The segment column's values, in order of first appearance, when one was read
    /// over all rows.
    pub segments: Vec<String>,
    /// Per-stratum statistics, for post-stratification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strata: Option<Strata>,
}

/// The statistics of every stratum of a pre-experiment attribute, for
/// post-stratification ([`crate::poststrat`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Strata {
    /// The column the strata are values of.
    pub column: String,
    /// The strata, in order of first appearance.
    pub names: Vec<String>,
    /// Moments by [metric][stratum][arm], arms in the order of [`Aggregated::arms`].
    pub metrics: Vec<Vec<Vec<Moments>>>,
}

impl Strata {
    /// Each stratum's (control, treatment) statistics of a metric.
    pub fn pairs(
        &self,
        metric: usize,
        control: usize,
        treatment: usize,
    ) -> Vec<(Moments, Moments)> {
        self.metrics[metric]
            .iter()
            .map(|arms| {
                let get = |a: usize| arms.get(a).copied().unwrap_or_default();
                (get(control), get(treatment))
            })
            .collect()
    }
}

struct Layout {
    columns: Vec<String>,
    /// Per metric: indices of (main, denominator, covariate, covariate denominator) in
    /// `columns`.
    slots: Vec<[Option<usize>; VALUES]>,
}

fn layout(metrics: &[MetricSpec]) -> Layout {
    let mut columns: Vec<String> = Vec::new();
    let mut index = |name: &str| {
        if let Some(i) = columns.iter().position(|c| c == name) {
            i
        } else {
            columns.push(name.to_owned());
            columns.len() - 1
        }
    };
    let slots = metrics
        .iter()
        .map(|m| {
            [
                Some(index(&m.column)),
                m.denominator.as_deref().map(&mut index),
                m.covariate.as_deref().map(&mut index),
                m.covariate_denominator.as_deref().map(&mut index),
            ]
        })
        .collect();
    Layout { columns, slots }
}

struct Folder<'a> {
    specs: &'a [MetricSpec],
    layout: &'a Layout,
    missing: Missing,
    caps: Vec<Option<f64>>,
    arms: Vec<String>,
    units: Vec<u64>,
    /// [metric][arm] when no time column; with one, the per-day tables hold everything.
    totals: Vec<Vec<Moments>>,
    days: BTreeMap<i64, Vec<Vec<Moments>>>,
    by_day: bool,
    binary: Vec<bool>,
    /// Per metric and arm: what `MetricData` counts over all arms, kept per arm so that
    /// a segment's share is known when segments are arms of one pass.
    counts: Counts,
    /// Rows handed to this folder, to order the first missing value of parts joined in
    /// file order.
    seen: u64,
    undated: u64,
    last_arm: usize,
    /// Reused per batch (a fresh buffer per batch costs page faults).
    scratch: Vec<usize>,
    /// A quantile metric's values, per arm (None for other metrics): a quantile needs
    /// them all (8 bytes a unit).
    values: Vec<Option<Vec<Vec<f64>>>>,
}

impl<'a> Folder<'a> {
    fn new(
        specs: &'a [MetricSpec],
        layout: &'a Layout,
        missing: Missing,
        caps: Vec<Option<f64>>,
        by_day: bool,
    ) -> Self {
        Folder {
            specs,
            layout,
            missing,
            caps,
            arms: Vec::new(),
            units: Vec::new(),
            totals: vec![Vec::new(); specs.len()],
            days: BTreeMap::new(),
            by_day,
            binary: vec![true; layout.columns.len()],
            counts: Counts {
                capped: vec![Vec::new(); specs.len()],
                missing: vec![Vec::new(); specs.len()],
                covariate_missing: vec![Vec::new(); specs.len()],
                first_missing: vec![Vec::new(); specs.len()],
            },
            seen: 0,
            undated: 0,
            last_arm: 0,
            scratch: Vec::new(),
            values: specs
                .iter()
                .map(|s| s.quantile.map(|_| Vec::new()))
                .collect(),
        }
    }

    fn arm(&mut self, variant: &str) -> usize {
        if self.arms.get(self.last_arm).is_some_and(|a| a == variant) {
            return self.last_arm;
        }
        let i = match self.arms.iter().position(|a| a == variant) {
            Some(i) => i,
            None => {
                self.arms.push(variant.to_owned());
                self.units.push(0);
                for t in self.totals.iter_mut() {
                    t.push(Moments::default());
                }
                for v in self.values.iter_mut().flatten() {
                    v.push(Vec::new());
                }
                self.counts.add_arm();
                for table in self.days.values_mut() {
                    for t in table.iter_mut() {
                        t.push(Moments::default());
                    }
                }
                self.arms.len() - 1
            }
        };
        self.last_arm = i;
        i
    }
}

impl RowSink for Folder<'_> {
    /// Whole columns at a time when the batch has no nulls and no days to split by (the
    /// common case for Parquet); row by row otherwise.
    fn batch(&mut self, b: &Batch<'_>) -> Result<(), Error> {
        let plain = b.days.is_none() && !self.by_day && b.values.iter().all(|c| c.nulls.is_none());
        if !plain {
            return rows_one_by_one(self, b);
        }
        let map: Vec<usize> = b.names.iter().map(|n| self.arm(n)).collect();
        if let Some(pos) = b.names.iter().position(|n| n.is_empty())
            && b.arms.iter().any(|&a| a as usize == pos)
        {
            return Err(Error::Input(format!("{}: a variant is empty", b.origin)));
        }
        for &a in b.arms {
            self.units[map[a as usize]] += 1;
        }
        for (c, col) in b.values.iter().enumerate() {
            if self.binary[c] && !col.values.iter().all(|&x| x == 0.0 || x == 1.0) {
                self.binary[c] = false;
            }
        }
        let n_arms = self.arms.len();
        // Each row's accumulator: its arm's, in one of LANES interleaved copies, so that
        // consecutive rows of the same arm do not wait on each other's sums.
        let mut slot = std::mem::take(&mut self.scratch);
        slot.clear();
        slot.extend(
            b.arms
                .iter()
                .enumerate()
                .map(|(i, &a)| map[a as usize] * LANES + (i % LANES)),
        );
        for (m, slots) in self.layout.slots.iter().enumerate() {
            let mut chunks: Vec<Chunk> = self.totals[m]
                .iter()
                .flat_map(|t| std::iter::repeat_n(Chunk::at(t.mean), LANES))
                .collect();
            let y = &b.values[slots[0].expect("a metric column")].values;
            let column = |slot: Option<usize>| slot.map(|c| &b.values[c].values[..]);
            let cap = self.caps[m].unwrap_or(f64::INFINITY);
            // One loop per shape, so that plain metrics do no work for absent values.
            match (column(slots[1]), column(slots[2]), column(slots[3])) {
                (None, None, _) => {
                    for (&k, &yv) in slot.iter().zip(y) {
                        chunks[k].push_with::<false, false, false>([yv.min(cap), 0.0, 0.0, 0.0]);
                    }
                }
                (Some(d), None, _) => {
                    for ((&k, &yv), &dv) in slot.iter().zip(y).zip(d) {
                        chunks[k].push_with::<true, false, false>([yv.min(cap), dv, 0.0, 0.0]);
                    }
                }
                (None, Some(x), _) => {
                    for ((&k, &yv), &xv) in slot.iter().zip(y).zip(x) {
                        chunks[k].push_with::<false, true, false>([yv.min(cap), 0.0, xv, 0.0]);
                    }
                }
                (Some(d), Some(x), None) => {
                    for (((&k, &yv), &dv), &xv) in slot.iter().zip(y).zip(d).zip(x) {
                        chunks[k].push_with::<true, true, false>([yv.min(cap), dv, xv, 0.0]);
                    }
                }
                (Some(d), Some(x), Some(xd)) => {
                    for ((((&k, &yv), &dv), &xv), &xdv) in slot.iter().zip(y).zip(d).zip(x).zip(xd)
                    {
                        chunks[k].push_with::<true, true, true>([yv.min(cap), dv, xv, xdv]);
                    }
                }
            }
            if let Some(values) = &mut self.values[m] {
                for (&a, &yv) in b.arms.iter().zip(y) {
                    values[map[a as usize]].push(yv);
                }
            }
            for a in 0..n_arms {
                let mut chunk = chunks[a * LANES];
                for lane in &chunks[a * LANES + 1..(a + 1) * LANES] {
                    chunk.add(lane);
                }
                self.totals[m][a] = self.totals[m][a].merge(&chunk.moments());
            }
            // Counted apart from the fold, so that uncapped metrics pay nothing for it.
            if self.caps[m].is_some() {
                for (&a, &yv) in b.arms.iter().zip(y) {
                    self.counts.capped[m][map[a as usize]] += u64::from(yv > cap);
                }
            }
        }
        self.seen += b.arms.len() as u64;
        self.scratch = slot;
        Ok(())
    }

    fn row(
        &mut self,
        variant: &str,
        values: &[Option<f64>],
        day: Option<i64>,
        at: &dyn Locate,
    ) -> Result<(), Error> {
        if variant.is_empty() {
            return Err(Error::Input(format!(
                "{}: the variant is empty",
                at.locate()
            )));
        }
        let arm = self.arm(variant);
        self.units[arm] += 1;
        let ordinal = self.seen;
        self.seen += 1;
        for (c, v) in values.iter().enumerate() {
            if let Some(x) = v
                && *x != 0.0
                && *x != 1.0
            {
                self.binary[c] = false;
            }
        }
        let day = if self.by_day {
            match day {
                Some(d) => Some(d),
                None => {
                    self.undated += 1;
                    None
                }
            }
        } else {
            None
        };
        let n_arms = self.arms.len();
        let n_metrics = self.specs.len();
        for (m, slots) in self.layout.slots.iter().enumerate() {
            let mut unit = [0.0; VALUES];
            let mut skip = false;
            let (mut value_missing, mut covariate_missing) = (false, false);
            for (k, slot) in slots.iter().enumerate() {
                let Some(col) = *slot else { continue };
                match values[col] {
                    Some(v) => unit[k] = v,
                    None if k == COVARIATE || k == COVARIATE_DENOMINATOR => {
                        covariate_missing = true;
                    }
                    None => match self.missing {
                        Missing::Error => {
                            return Err(Error::Input(format!(
                                "{}: column `{}` is empty (metric `{}`); choose --missing zero \
                                 (count as 0) or --missing skip (leave the unit out of it)",
                                at.locate(),
                                self.layout.columns[col],
                                self.specs[m].name
                            )));
                        }
                        Missing::Zero => value_missing = true,
                        Missing::Skip => {
                            value_missing = true;
                            skip = true;
                        }
                    },
                }
            }
            // A unit counts once, however many of its values are missing.
            if value_missing || covariate_missing {
                let c = &mut self.counts;
                c.missing[m][arm] += u64::from(value_missing);
                c.covariate_missing[m][arm] += u64::from(covariate_missing);
                if c.first_missing[m][arm].is_none() {
                    c.first_missing[m][arm] = Some((ordinal, at.locate()));
                }
            }
            if skip {
                continue;
            }
            if let Some(cap) = self.caps[m]
                && unit[0] > cap
            {
                unit[0] = cap;
                self.counts.capped[m][arm] += 1;
            }
            let target = match day {
                Some(d) => {
                    let table = self
                        .days
                        .entry(d)
                        .or_insert_with(|| vec![vec![Moments::default(); n_arms]; n_metrics]);
                    &mut table[m][arm]
                }
                None => &mut self.totals[m][arm],
            };
            target.push(unit);
            if let Some(values) = &mut self.values[m] {
                values[arm].push(unit[0]);
            }
        }
        Ok(())
    }
}

impl Split for Folder<'_> {
    fn part(&self) -> Self {
        Folder::new(
            self.specs,
            self.layout,
            self.missing,
            self.caps.clone(),
            self.by_day,
        )
    }

    fn join(&mut self, part: Self) {
        let map: Vec<usize> = part.arms.iter().map(|a| self.arm(a)).collect();
        for (a, u) in part.units.iter().enumerate() {
            self.units[map[a]] += u;
        }
        let n_arms = self.arms.len();
        for (m, per_arm) in part.totals.iter().enumerate() {
            for (a, mom) in per_arm.iter().enumerate() {
                self.totals[m][map[a]] = self.totals[m][map[a]].merge(mom);
            }
        }
        for (day, table) in part.days {
            let mine = self
                .days
                .entry(day)
                .or_insert_with(|| vec![vec![Moments::default(); n_arms]; self.specs.len()]);
            for (m, per_arm) in table.iter().enumerate() {
                mine[m].resize(n_arms, Moments::default());
                for (a, mom) in per_arm.iter().enumerate() {
                    mine[m][map[a]] = mine[m][map[a]].merge(mom);
                }
            }
        }
        for (b, pb) in self.binary.iter_mut().zip(&part.binary) {
            *b &= pb;
        }
        for (mine, theirs) in self.values.iter_mut().zip(part.values) {
            if let (Some(mine), Some(theirs)) = (mine, theirs) {
                for (a, v) in theirs.into_iter().enumerate() {
                    mine[map[a]].extend(v);
                }
            }
        }
        // The part's rows follow this folder's in the file.
        self.counts.join(part.counts, &map, self.seen);
        self.seen += part.seen;
        self.undated += part.undated;
    }
}

/// Interleaved accumulators per arm in the columnar fold.
const LANES: usize = 4;

/// One arm's units within a batch, as sums shifted by the arm's running mean: the loop is
/// multiply-adds only (no division per row, as Welford's update has), and with the shift
/// at the mean the sums stay small, so turning them into central moments loses no digits.
#[derive(Clone, Copy)]
struct Chunk {
    n: u64,
    shift: [f64; VALUES],
    s: [f64; VALUES],
    /// Σu·v in the order of `Moments::co`: the squares, then the pairs of [`PAIRS`].
    q: [f64; VALUES + PAIRS.len()],
}

impl Chunk {
    fn at(shift: [f64; VALUES]) -> Chunk {
        Chunk {
            n: 0,
            shift,
            s: [0.0; VALUES],
            q: [0.0; VALUES + PAIRS.len()],
        }
    }

    /// A unit, with the denominator (D), the covariate (X) and the covariate's
    /// denominator (P, only with D and X) when the metric has them.
    #[inline(always)]
    fn push_with<const D: bool, const X: bool, const P: bool>(&mut self, v: [f64; VALUES]) {
        let u: [f64; VALUES] = std::array::from_fn(|i| v[i] - self.shift[i]);
        self.n += 1;
        self.s[0] += u[0];
        self.q[0] += u[0] * u[0];
        if D {
            self.s[1] += u[1];
            self.q[1] += u[1] * u[1];
            self.q[4] += u[0] * u[1];
        }
        if X {
            self.s[2] += u[2];
            self.q[2] += u[2] * u[2];
            self.q[5] += u[0] * u[2];
        }
        if D && X {
            self.q[7] += u[1] * u[2];
        }
        if P {
            self.s[3] += u[3];
            self.q[3] += u[3] * u[3];
            self.q[6] += u[0] * u[3];
            self.q[8] += u[1] * u[3];
            self.q[9] += u[2] * u[3];
        }
    }

    /// Adds another accumulator with the same shift.
    fn add(&mut self, other: &Chunk) {
        self.n += other.n;
        for i in 0..VALUES {
            self.s[i] += other.s[i];
        }
        for k in 0..self.q.len() {
            self.q[k] += other.q[k];
        }
    }

    fn moments(&self) -> Moments {
        // Raw sums of the shifted values, shifted back.
        let q = &self.q;
        let mut m = Moments::from_sums(
            self.n,
            self.s,
            [q[0], q[1], q[2], q[3]],
            [q[4], q[5], q[6], q[7], q[8], q[9]],
        );
        if self.n > 0 {
            for (mean, shift) in m.mean.iter_mut().zip(self.shift) {
                *mean += shift;
            }
        }
        m
    }
}

/// Collects the values of capped-by-quantile columns in a t-digest (Dunning and Ertl
/// 2019): a quantile in one pass with bounded memory; near the tails its rank error is a
/// small fraction of (1 − q).
struct QuantileScan<'a> {
    wanted: Vec<(usize, usize)>,
    layout: &'a Layout,
    digests: Vec<tdigest::TDigest>,
}

impl RowSink for QuantileScan<'_> {
    fn row(
        &mut self,
        _: &str,
        values: &[Option<f64>],
        _: Option<i64>,
        _: &dyn Locate,
    ) -> Result<(), Error> {
        for (k, (m, _)) in self.wanted.iter().enumerate() {
            if let Some(col) = self.layout.slots[*m][0]
                && let Some(v) = values[col]
            {
                self.digests[k].push(v);
            }
        }
        Ok(())
    }
}

impl Split for QuantileScan<'_> {
    fn part(&self) -> Self {
        QuantileScan {
            wanted: self.wanted.clone(),
            layout: self.layout,
            digests: vec![tdigest::TDigest::new_with_size(1000); self.wanted.len()],
        }
    }

    fn join(&mut self, mut part: Self) {
        for (mine, theirs) in self.digests.iter_mut().zip(part.digests.iter_mut()) {
            mine.flush();
            theirs.flush();
            *mine = tdigest::TDigest::merge_digests(vec![mine.clone(), theirs.clone()]);
        }
    }
}

/// Streams the source once (twice when a cap is a quantile) into per-arm statistics,
/// decoding columnar files with up to `threads` workers.
pub fn aggregate(
    source: &Source,
    variant: &str,
    time: Option<&str>,
    specs: &[MetricSpec],
    missing: Missing,
    threads: usize,
) -> Result<Aggregated, Error> {
    aggregate_segment(source, variant, None, time, specs, missing, threads)
}

/// Which rows of a segment column an aggregation reads.
#[derive(Clone, Debug)]
pub struct SegmentFilter {
    pub column: String,
    /// Only this segment's rows; None: every row (and the segments are listed).
    pub only: Option<String>,
}

/// How rows are grouped besides their variant.
#[derive(Clone, Copy)]
enum Grouping<'a> {
    None,
    /// One segment's rows, or all rows with the segments listed.
    Segment(&'a SegmentFilter),
    /// Every row, keyed by `stratum` [`crate::source::SEGMENT_SEPARATOR`] `variant`.
    Strata(&'a str),
}

impl Grouping<'_> {
    fn column(&self) -> Option<&str> {
        match self {
            Grouping::None => None,
            Grouping::Segment(f) => Some(&f.column),
            Grouping::Strata(c) => Some(c),
        }
    }
}

/// Streams `source` into `sink`, through a [`SegmentSink`] when a segment column is
/// read: (the sink, rows handed on, segments seen).
fn stream<S: Split>(
    source: &Source,
    cols: &Columns,
    sink: S,
    grouping: Grouping<'_>,
    threads: usize,
) -> Result<(S, u64, Vec<String>), Error> {
    let segment = match grouping {
        Grouping::Segment(f) => Some(f),
        _ => None,
    };
    match segment {
        None => {
            let mut sink = sink;
            let rows = source.stream(cols, &mut sink, threads)?;
            Ok((sink, rows, Vec::new()))
        }
        Some(f) => {
            let mut wrapped = SegmentSink::new(sink, &f.column, f.only.clone());
            source.stream(cols, &mut wrapped, threads)?;
            Ok((wrapped.inner, wrapped.forwarded, wrapped.seen))
        }
    }
}

/// [`aggregate`] over one segment's rows (or all rows, listing the segments, when
/// `segment.only` is None): the same statistics a file holding only those rows gives.
pub fn aggregate_segment(
    source: &Source,
    variant: &str,
    segment: Option<&SegmentFilter>,
    time: Option<&str>,
    specs: &[MetricSpec],
    missing: Missing,
    threads: usize,
) -> Result<Aggregated, Error> {
    let grouping = segment.map_or(Grouping::None, Grouping::Segment);
    let (mut data, values, _) = fold(source, variant, grouping, time, specs, missing, threads)?;
    finish_quantiles(&mut data, values);
    Ok(data)
}

/// A quantile metric's values per arm (None for other metrics), as [`Folder`] keeps them.
type Values = Vec<Option<Vec<Vec<f64>>>>;

/// Per metric and arm: units capped, units with a missing value, units with a missing
/// covariate, and the first missing value (its row's place in the file, and where).
#[derive(Clone, Debug, Default)]
struct Counts {
    capped: Vec<Vec<u64>>,
    missing: Vec<Vec<u64>>,
    covariate_missing: Vec<Vec<u64>>,
    first_missing: Vec<Vec<Option<(u64, String)>>>,
}

impl Counts {
    fn add_arm(&mut self) {
        for m in 0..self.capped.len() {
            self.capped[m].push(0);
            self.missing[m].push(0);
            self.covariate_missing[m].push(0);
            self.first_missing[m].push(None);
        }
    }

    /// Adds a part's counts (its arm `a` is this one's `map[a]`), its rows coming after
    /// this one's `offset` rows.
    fn join(&mut self, part: Counts, map: &[usize], offset: u64) {
        for m in 0..self.capped.len() {
            for (a, &to) in map.iter().enumerate() {
                self.capped[m][to] += part.capped[m][a];
                self.missing[m][to] += part.missing[m][a];
                self.covariate_missing[m][to] += part.covariate_missing[m][a];
                if self.first_missing[m][to].is_none() {
                    self.first_missing[m][to] = part.first_missing[m][a]
                        .clone()
                        .map(|(k, at)| (k + offset, at));
                }
            }
        }
    }

    /// Metric `m`'s counts over the arms `arms`: capped, missing, covariate missing, and
    /// where the first missing value is.
    fn over(&self, m: usize, arms: &[usize]) -> (u64, u64, u64, Option<String>) {
        let sum = |v: &Vec<Vec<u64>>| {
            arms.iter()
                .map(|&a| v[m].get(a).copied().unwrap_or(0))
                .sum()
        };
        let first = arms
            .iter()
            .filter_map(|&a| self.first_missing[m].get(a).cloned().flatten())
            .min_by_key(|(k, _)| *k)
            .map(|(_, at)| at);
        (
            sum(&self.capped),
            sum(&self.missing),
            sum(&self.covariate_missing),
            first,
        )
    }
}

/// Each quantile metric's quantile per arm, from its values.
fn finish_quantiles(data: &mut Aggregated, values: Values) {
    for (md, v) in data.metrics.iter_mut().zip(values) {
        if let (Some(mut per_arm), Some(nu)) = (v, md.spec.quantile) {
            per_arm.resize(data.arms.len(), Vec::new());
            md.quantiles = Some(
                per_arm
                    .iter_mut()
                    .map(|vals| QuantileStat::from_values(vals, nu))
                    .collect(),
            );
        }
    }
}

/// Every segment of `column` aggregated on its own rows, in order of first appearance:
/// what [`aggregate_segment`] gives for each, from one pass over the data (each segment ×
/// variant is an arm of its own during the pass, split after). A cap at a quantile is a
/// quantile of each segment's own rows, which one pass cannot know ahead: then each
/// segment is read in a pass of its own.
pub fn aggregate_segments(
    source: &Source,
    variant: &str,
    column: &str,
    time: Option<&str>,
    specs: &[MetricSpec],
    missing: Missing,
    threads: usize,
) -> Result<Vec<(String, Aggregated)>, Error> {
    if specs
        .iter()
        .any(|s| matches!(s.cap, Some(Cap::Quantile(_))))
    {
        let read = |only: Option<String>| {
            let filter = SegmentFilter {
                column: column.to_owned(),
                only,
            };
            aggregate_segment(
                source,
                variant,
                Some(&filter),
                time,
                specs,
                missing,
                threads,
            )
        };
        return read(None)?
            .segments
            .into_iter()
            .map(|name| Ok((name.clone(), read(Some(name))?)))
            .collect();
    }
    let (keyed, values, counts) = fold(
        source,
        variant,
        Grouping::Strata(column),
        time,
        specs,
        missing,
        threads,
    )?;
    let split = split_keys(
        &keyed,
        &format!("the segment column `{column}`"),
        "segment by a coarser column",
    )?;
    let mut out = Vec::new();
    for (s, name) in split.groups.iter().enumerate() {
        // This segment's keys, in the order they first appeared: its arms' order.
        let mine: Vec<usize> = (0..split.at.len())
            .filter(|&k| split.at[k].0 == s)
            .collect();
        let pick = |per_key: &[Moments]| -> Vec<Moments> {
            mine.iter()
                .map(|&k| per_key.get(k).copied().unwrap_or_default())
                .collect()
        };
        let metrics = keyed
            .metrics
            .iter()
            .enumerate()
            .map(|(m, md)| {
                let (capped, missing, covariate_missing, first_missing_at) = counts.over(m, &mine);
                MetricData {
                    arms: pick(&md.arms),
                    capped,
                    missing,
                    covariate_missing,
                    first_missing_at,
                    ..md.clone()
                }
            })
            .collect();
        let days = keyed
            .days
            .iter()
            .filter_map(|(day, table)| {
                let t: Vec<Vec<Moments>> = table.iter().map(|per_key| pick(per_key)).collect();
                // A day without a unit of this segment is not a day of its series.
                t.iter()
                    .any(|arms| arms.iter().any(|m| m.n > 0))
                    .then_some((*day, t))
            })
            .collect();
        let units: Vec<u64> = mine.iter().map(|&k| keyed.units[k]).collect();
        let mut data = Aggregated {
            source: keyed.source.clone(),
            arms: mine
                .iter()
                .map(|&k| split.variants[split.at[k].1].clone())
                .collect(),
            rows: units.iter().sum(),
            units,
            metrics,
            days,
            segments: Vec::new(),
            strata: None,
        };
        let segment_values: Values = values
            .iter()
            .map(|v| {
                v.as_ref().map(|per_key| {
                    mine.iter()
                        .map(|&k| per_key.get(k).cloned().unwrap_or_default())
                        .collect()
                })
            })
            .collect();
        finish_quantiles(&mut data, segment_values);
        out.push((name.clone(), data));
    }
    Ok(out)
}

/// [`aggregate`] with the statistics of every stratum of `column` kept as well, for
/// post-stratification: one pass, in which each (stratum, variant) is an arm of its own.
pub fn aggregate_strata(
    source: &Source,
    variant: &str,
    column: &str,
    time: Option<&str>,
    specs: &[MetricSpec],
    missing: Missing,
    threads: usize,
) -> Result<Aggregated, Error> {
    let (keyed, values, _) = fold(
        source,
        variant,
        Grouping::Strata(column),
        time,
        specs,
        missing,
        threads,
    )?;
    let split = strata_split(&keyed, column)?;
    // Quantiles are not sums: each variant's comes from all its strata's values.
    let values = values
        .into_iter()
        .map(|v| {
            v.map(|per_key| {
                let mut out = vec![Vec::new(); split.variants.len()];
                for (k, vals) in per_key.into_iter().enumerate() {
                    out[split.at[k].1].extend(vals);
                }
                out
            })
        })
        .collect();
    let mut data = pool_strata(keyed, column, split)?;
    finish_quantiles(&mut data, values);
    Ok(data)
}

/// The (group, variant) keys of an aggregation read with a segment or stratum column,
/// interned in order of first appearance: the groups, the variants, and per key its
/// (group, variant) indices. `column` is named in the error past [`crate::source::MAX_SEGMENTS`]
/// groups, with `advice` (how to choose a coarser one).
struct KeySplit {
    groups: Vec<String>,
    variants: Vec<String>,
    at: Vec<(usize, usize)>,
}

fn split_keys(keyed: &Aggregated, column: &str, advice: &str) -> Result<KeySplit, Error> {
    let mut split = KeySplit {
        groups: Vec::new(),
        variants: Vec::new(),
        at: Vec::new(),
    };
    for key in &keyed.arms {
        let (group, variant) = crate::source::split_key(key);
        if variant.is_empty() {
            return Err(Error::Input(format!(
                "{}: a variant is empty",
                keyed.source
            )));
        }
        let g = intern(&mut split.groups, group);
        split.at.push((g, intern(&mut split.variants, variant)));
        if split.groups.len() > crate::source::MAX_SEGMENTS {
            return Err(Error::Input(format!(
                "{}: {column} has more than {} values: {advice}",
                keyed.source,
                crate::source::MAX_SEGMENTS
            )));
        }
    }
    Ok(split)
}

fn strata_split(keyed: &Aggregated, column: &str) -> Result<KeySplit, Error> {
    split_keys(
        keyed,
        &format!("the post-stratification column `{column}`"),
        "stratify by a coarser column",
    )
}

/// Turns an aggregation whose arms are (stratum, variant) keys into one per variant,
/// keeping each stratum's statistics.
fn pool_strata(keyed: Aggregated, column: &str, split: KeySplit) -> Result<Aggregated, Error> {
    let KeySplit {
        groups: names,
        variants: arms,
        at,
    } = split;
    let mut units = vec![0; arms.len()];
    for (k, &(_, a)) in at.iter().enumerate() {
        units[a] += keyed.units[k];
    }
    let mut strata_metrics = Vec::new();
    let mut metrics = Vec::new();
    for md in keyed.metrics {
        // Only a warehouse's quantile rows have quantiles yet (rows' quantiles are taken
        // after pooling): per stratum, they cannot be pooled, a quantile not being a sum.
        if md.quantiles.is_some() {
            return Err(Error::Input(format!(
                "{}: metric `{}` is a quantile, which per-stratum rows cannot pool: drop \
                 --post-stratify or give the quantile over all strata",
                keyed.source, md.spec.name
            )));
        }
        let mut by_stratum = vec![vec![Moments::default(); arms.len()]; names.len()];
        let mut pooled = vec![Moments::default(); arms.len()];
        for (k, &(s, a)) in at.iter().enumerate() {
            by_stratum[s][a] = md.arms[k];
            pooled[a] = pooled[a].merge(&md.arms[k]);
        }
        strata_metrics.push(by_stratum);
        metrics.push(MetricData { arms: pooled, ..md });
    }
    let days = keyed
        .days
        .into_iter()
        .map(|(day, table)| {
            let pooled = table
                .iter()
                .map(|per_key| {
                    let mut out = vec![Moments::default(); arms.len()];
                    for (k, &(_, a)) in at.iter().enumerate() {
                        if let Some(m) = per_key.get(k) {
                            out[a] = out[a].merge(m);
                        }
                    }
                    out
                })
                .collect();
            (day, pooled)
        })
        .collect();
    Ok(Aggregated {
        source: keyed.source,
        arms,
        units,
        metrics,
        days,
        rows: keyed.rows,
        segments: Vec::new(),
        strata: Some(Strata {
            column: column.to_owned(),
            names,
            metrics: strata_metrics,
        }),
    })
}

fn fold(
    source: &Source,
    variant: &str,
    grouping: Grouping<'_>,
    time: Option<&str>,
    specs: &[MetricSpec],
    missing: Missing,
    threads: usize,
) -> Result<(Aggregated, Values, Counts), Error> {
    let layout = layout(specs);
    let cols = Columns {
        variant: variant.to_owned(),
        values: layout.columns.clone(),
        time: time.map(str::to_owned),
        segment: grouping.column().map(str::to_owned),
    };
    let mut caps: Vec<Option<f64>> = specs
        .iter()
        .map(|s| match s.cap {
            Some(Cap::Value(v)) => Some(v),
            _ => None,
        })
        .collect();
    let wanted: Vec<(usize, usize)> = specs
        .iter()
        .enumerate()
        .filter_map(|(m, s)| match s.cap {
            Some(Cap::Quantile(q)) => Some((m, (q * 1e6) as usize)),
            _ => None,
        })
        .collect();
    if !wanted.is_empty() {
        let scan = QuantileScan {
            digests: vec![tdigest::TDigest::new_with_size(1000); wanted.len()],
            wanted: wanted.clone(),
            layout: &layout,
        };
        let (mut scan, _, _) = stream(source, &cols, scan, grouping, threads)?;
        for (k, (m, _)) in wanted.iter().enumerate() {
            let Some(Cap::Quantile(q)) = specs[*m].cap else {
                unreachable!()
            };
            scan.digests[k].flush();
            caps[*m] = scan.digests[k].estimate_quantile(q);
        }
    }
    let folder = Folder::new(specs, &layout, missing, caps.clone(), time.is_some());
    let (mut folder, rows, segments) = stream(source, &cols, folder, grouping, threads)?;
    if time.is_some() && folder.undated > 0 {
        return Err(Error::Input(format!(
            "{}: {} rows have no value in the time column `{}`",
            source.describe(),
            folder.undated,
            time.unwrap_or("")
        )));
    }
    let n_arms = folder.arms.len();
    let mut totals = folder.totals;
    for t in totals.iter_mut() {
        t.resize(n_arms, Moments::default());
    }
    for table in folder.days.values_mut() {
        for t in table.iter_mut() {
            t.resize(n_arms, Moments::default());
        }
        for (m, t) in table.iter().enumerate() {
            for (a, mom) in t.iter().enumerate() {
                totals[m][a] = totals[m][a].merge(mom);
            }
        }
    }
    let kind = |slot: Option<usize>| {
        slot.map(|c| {
            if folder.binary[c] {
                Kind::Proportion
            } else {
                Kind::Mean
            }
        })
    };
    let every_arm: Vec<usize> = (0..n_arms).collect();
    let metrics = specs
        .iter()
        .enumerate()
        .map(|(m, spec)| {
            let s = layout.slots[m];
            let counts = folder.counts.over(m, &every_arm);
            // A capped metric is no longer 0/1 even when its column was.
            let main = if caps[m].is_some() {
                Kind::Mean
            } else {
                kind(s[0]).unwrap_or(Kind::Mean)
            };
            MetricData {
                spec: spec.clone(),
                shape: Shape {
                    main,
                    denominator: kind(s[1]),
                    covariate: kind(s[2]),
                    covariate_denominator: kind(s[3]),
                },
                arms: totals[m].clone(),
                cap_value: caps[m],
                capped: counts.0,
                missing: counts.1,
                covariate_missing: counts.2,
                first_missing_at: counts.3,
                quantiles: None,
            }
        })
        .collect();
    Ok((
        Aggregated {
            source: source.describe(),
            arms: folder.arms,
            units: folder.units,
            metrics,
            days: folder.days,
            rows,
            segments,
            strata: None,
        },
        folder.values,
        folder.counts,
    ))
}

/// Reads per-arm sufficient statistics as warehouses export them, one row per variant and
/// metric, with GrowthBook's column names: `variant`, `metric`, `units` (or `users`,
/// `count`, `n`), `main_sum`, `main_sum_squares`; for ratio metrics `denominator_sum`,
/// `denominator_sum_squares`, `main_denominator_sum_product`; for CUPED `covariate_sum`,
/// `covariate_sum_squares`, `main_covariate_sum_product`; optional `metric_type`
/// (`proportion`/`binomial` or `mean`/`count`; without it a metric whose Σx² = Σx is a
/// proportion); for CUPED on a ratio the `denominator_pre_*` columns and their four
/// cross-products; for a quantile metric, instead of sums, `quantile`, `quantile_lower`,
/// `quantile_upper`, `quantile_level` and optionally `quantile_n` and `quantile_nstar`.
/// CSV or JSONL.
/// Refuses sums no set of units can have: Σx² below (Σx)²/n (a negative variance), a
/// cross-product beyond Cauchy–Schwarz, a proportion outside [0, 1], sums whose squares
/// overflow double precision, or values with no units. Rounding in the warehouse is
/// allowed for (a relative 1e-9).
fn check_sums(
    at: &str,
    n: u64,
    sums: [f64; VALUES],
    squares: [f64; VALUES],
    products: [f64; PAIRS.len()],
    present: [bool; VALUES],
    proportion: bool,
) -> Result<(), Error> {
    let fail = |what: String| Err(Error::Input(format!("{at}: {what}: impossible sums")));
    if n == 0 {
        if sums
            .iter()
            .chain(&squares)
            .chain(&products)
            .any(|v| *v != 0.0)
        {
            return fail("0 units with non-zero sums".into());
        }
        return Ok(());
    }
    let nf = n as f64;
    let mut centred = [0.0; VALUES];
    for i in (0..VALUES).filter(|&i| present[i]) {
        let g = STATS_GROUPS[i];
        let (s, q) = (sums[i], squares[i]);
        let sq_over_n = s * s / nf;
        if !sq_over_n.is_finite() {
            return Err(Error::Input(format!(
                "{at}: {g}_sum {s:e} is too large: its square overflows double precision"
            )));
        }
        if q < 0.0 {
            return fail(format!("{g}_sum_squares {q} is negative"));
        }
        let tolerance = 1e-9 * q.max(sq_over_n);
        if q < sq_over_n - tolerance {
            return fail(format!(
                "{g}_sum_squares {q} is below {g}_sum²/units = {sq_over_n} (a variance below 0)"
            ));
        }
        centred[i] = (q - sq_over_n).max(0.0);
    }
    if proportion && !(0.0..=nf).contains(&sums[0]) {
        return fail(format!(
            "a proportion's main_sum {} is outside 0..units ({n})",
            sums[0]
        ));
    }
    for (k, &(i, j)) in PAIRS.iter().enumerate() {
        if !(present[i] && present[j]) {
            continue;
        }
        let c = products[k] - sums[i] * sums[j] / nf;
        let bound = (centred[i] * centred[j]).sqrt();
        let tolerance = 1e-9 * (squares[i] * squares[j]).sqrt();
        if !c.is_finite() || c.abs() > bound + tolerance {
            return fail(format!(
                "the {} and {} cross-product gives a covariance beyond what their variances allow \
                 (Cauchy–Schwarz)",
                STATS_GROUPS[i], STATS_GROUPS[j]
            ));
        }
    }
    Ok(())
}

/// How a stats file names each value's columns (`main_sum`, `denominator_sum_squares`, ...),
/// in the order of the value indices of [`crate::moments`].
const STATS_GROUPS: [&str; VALUES] = ["main", "denominator", "covariate", "denominator_pre"];

/// The cross-product columns of a stats file, in the order of [`PAIRS`] (GrowthBook's
/// names; the last four exist for CUPED on ratio metrics only).
const STATS_PRODUCTS: [&str; PAIRS.len()] = [
    "main_denominator_sum_product",
    "main_covariate_sum_product",
    "main_post_denominator_pre_sum_product",
    "main_pre_denominator_post_sum_product",
    "denominator_post_denominator_pre_sum_product",
    "main_pre_denominator_pre_sum_product",
];

pub fn read_stats(path: &Path, variant_column: &str) -> Result<Aggregated, Error> {
    read_stats_by(path, variant_column, None)
}

/// [`read_stats`] with one row per stratum, variant and metric: the strata are the values
/// of `stratum_column`, kept for post-stratification.
pub fn read_stats_strata(
    path: &Path,
    variant_column: &str,
    stratum_column: &str,
) -> Result<Aggregated, Error> {
    let keyed = read_stats_by(path, variant_column, Some(stratum_column))?;
    let split = strata_split(&keyed, stratum_column)?;
    pool_strata(keyed, stratum_column, split)
}

/// A metric read from quantile rows: its quantile per arm (every arm needs its row, all at
/// one level).
fn quantile_metric(
    origin: &str,
    name: &str,
    k: usize,
    arms: &[String],
    rows: &BTreeMap<(usize, usize), (QuantileStat, u64, usize)>,
) -> Result<MetricData, Error> {
    let mut per_arm = Vec::new();
    let mut units = Vec::new();
    for (a, arm) in arms.iter().enumerate() {
        let Some((q, n, line)) = rows.get(&(k, a)) else {
            return Err(Error::Input(format!(
                "{origin}: no row for {} and metric `{name}`",
                shown(arm)
            )));
        };
        if let Some(first) = per_arm.first().and_then(|q: &Option<QuantileStat>| *q)
            && first.nu != q.nu
        {
            return Err(Error::Input(format!(
                "{origin}:{line}: metric `{name}` has quantile_level {} here and {} in another row",
                q.nu, first.nu
            )));
        }
        per_arm.push(Some(*q));
        units.push(*n);
    }
    let nu = per_arm[0].map(|q| q.nu);
    Ok(MetricData {
        spec: MetricSpec {
            quantile: nu,
            ..MetricSpec::new(name, name)
        },
        shape: Shape {
            main: Kind::Mean,
            denominator: None,
            covariate: None,
            covariate_denominator: None,
        },
        // The arms' units, so that the sample-ratio check sees them.
        arms: units
            .iter()
            .map(|&n| Moments {
                n,
                ..Moments::default()
            })
            .collect(),
        cap_value: None,
        capped: 0,
        missing: 0,
        covariate_missing: 0,
        first_missing_at: None,
        quantiles: Some(per_arm),
    })
}

/// A variant as messages name it: with its stratum when rows are per stratum.
fn shown(key: &str) -> String {
    match key.split_once(crate::source::SEGMENT_SEPARATOR) {
        Some((stratum, variant)) => format!("variant `{variant}` in stratum `{stratum}`"),
        None => format!("variant `{key}`"),
    }
}

fn read_stats_by(
    path: &Path,
    variant_column: &str,
    stratum_column: Option<&str>,
) -> Result<Aggregated, Error> {
    let origin = path.display().to_string();
    let rows: Vec<(usize, serde_json::Map<String, serde_json::Value>)> =
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl") | Some("ndjson") | Some("json") => {
                let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                let mut out = Vec::new();
                for (k, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let obj = assay_core::input::parse_strict_object(line).map_err(|e| {
                        Error::Input(format!("{origin}:{}: not a JSON object: {e}", k + 1))
                    })?;
                    out.push((k + 1, obj));
                }
                out
            }
            _ => {
                let mut rdr = csv::Reader::from_path(path).map_err(|e| Error::io_csv(path, e))?;
                let header = rdr.headers().map_err(|e| Error::io_csv(path, e))?.clone();
                crate::source::refuse_repeated_columns(&origin, header.iter())?;
                let mut out = Vec::new();
                for rec in rdr.records() {
                    let rec = rec.map_err(|e| Error::io_csv(path, e))?;
                    let line = rec.position().map_or(0, |p| p.line()) as usize;
                    let obj = header
                        .iter()
                        .zip(rec.iter())
                        .map(|(h, v)| {
                            let h = h.trim_start_matches('\u{feff}').trim().to_owned();
                            (h, serde_json::Value::String(v.into()))
                        })
                        .collect();
                    out.push((line, obj));
                }
                out
            }
        };
    let mut arms: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    // The `metric_type` and `covariate_type` a row declares.
    type Types = (Option<String>, Option<String>);
    // (metric, arm) → statistics, types, which column groups are present, line.
    type Entry = (Moments, Types, [bool; VALUES], usize);
    let mut table: BTreeMap<(usize, usize), Entry> = BTreeMap::new();
    // (metric, arm) → the quantile, the arm's units, line.
    let mut quantile_rows: BTreeMap<(usize, usize), (QuantileStat, u64, usize)> = BTreeMap::new();
    for (line, obj) in &rows {
        let at = format!("{origin}:{line}");
        let text = |key: &str| -> Option<String> {
            match obj.get(key) {
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {
                    Some(s.trim().to_owned())
                }
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                _ => None,
            }
        };
        let num = |key: &str| -> Result<Option<f64>, Error> {
            match text(key) {
                None => Ok(None),
                Some(t) => match t.parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok(Some(v)),
                    _ => Err(Error::Input(format!(
                        "{at}: column `{key}`: `{t}` is not a number"
                    ))),
                },
            }
        };
        let variant = text(variant_column).ok_or_else(|| {
            Error::Input(format!(
                "{at}: no value in the variant column `{variant_column}`"
            ))
        })?;
        let variant = match stratum_column {
            // An empty stratum is a stratum of its own (units with no value).
            Some(c) => format!(
                "{}{}{variant}",
                text(c).unwrap_or_default(),
                crate::source::SEGMENT_SEPARATOR
            ),
            None => variant,
        };
        let metric = text("metric")
            .ok_or_else(|| Error::Input(format!("{at}: no value in the column `metric`")))?;
        // Counts are read as exact integers: a float would saturate or round a count
        // past 2^53 and the sample-ratio check would compare the wrong numbers.
        let n = ["units", "users", "count", "n"]
            .iter()
            .find_map(|k| text(k).map(|t| (k, t)))
            .ok_or_else(|| {
                Error::Input(format!(
                    "{at}: no unit count (column `units`, `users` or `n`)"
                ))
            })
            .and_then(|(k, t)| {
                t.parse::<Count>()
                    .map_err(|e| Error::Input(format!("{at}: column `{k}`: {e}")))
            })?
            .get();
        // A quantile metric's row (GrowthBook's `quantile_unit` columns): the quantile
        // and its bounds instead of sums.
        if text("quantile").is_some() {
            let need = |key: &str| {
                num(key)?.ok_or_else(|| {
                    Error::Input(format!(
                        "{at}: a quantile row needs a value in the column `{key}`"
                    ))
                })
            };
            let level = text("quantile_level")
                .ok_or_else(|| {
                    Error::Input(format!(
                        "{at}: a quantile row needs its level in the column `quantile_level` (0.95 or 95%)"
                    ))
                })?
                .parse::<assay_stats::domain::Probability>()
                .map_err(|e| Error::Input(format!("{at}: column `quantile_level`: {e}")))?
                .get();
            let count = |key: &str| -> Result<Option<u64>, Error> {
                text(key)
                    .map(|t| {
                        t.parse::<Count>()
                            .map(Count::get)
                            .map_err(|e| Error::Input(format!("{at}: column `{key}`: {e}")))
                    })
                    .transpose()
            };
            let qn = count("quantile_n")?.unwrap_or(n);
            let q = QuantileStat {
                n: qn,
                n_star: count("quantile_nstar")?.unwrap_or(qn),
                nu: level,
                estimate: need("quantile")?,
                lower: need("quantile_lower")?,
                upper: need("quantile_upper")?,
            };
            if !(q.lower <= q.estimate && q.estimate <= q.upper) {
                return Err(Error::Input(format!(
                    "{at}: quantile {} is not between quantile_lower {} and quantile_upper {}",
                    q.estimate, q.lower, q.upper
                )));
            }
            let a = intern(&mut arms, &variant);
            let k = intern(&mut names, &metric);
            if quantile_rows.insert((k, a), (q, n, *line)).is_some() {
                return Err(Error::Input(format!(
                    "{at}: a second row for {} and metric `{metric}`",
                    shown(&variant)
                )));
            }
            continue;
        }
        let main_sum = num("main_sum")?
            .ok_or_else(|| Error::Input(format!("{at}: no value in the column `main_sum`")))?;
        let kind_text = text("metric_type");
        let covariate_kind_text = text("covariate_type");
        let main_sq = num("main_sum_squares")?;
        let den = [
            num("denominator_sum")?,
            num("denominator_sum_squares")?,
            num(STATS_PRODUCTS[0])?,
        ];
        let cov = [
            num("covariate_sum")?,
            num("covariate_sum_squares")?,
            num(STATS_PRODUCTS[1])?,
        ];
        // CUPED on a ratio: the pre-period denominator and the four products it adds.
        let pre = [
            num("denominator_pre_sum")?,
            num("denominator_pre_sum_squares")?,
            num(STATS_PRODUCTS[2])?,
            num(STATS_PRODUCTS[3])?,
            num(STATS_PRODUCTS[4])?,
            num(STATS_PRODUCTS[5])?,
        ];
        let has = |g: &[Option<f64>], what: &str| -> Result<bool, Error> {
            match g.iter().filter(|v| v.is_some()).count() {
                0 => Ok(false),
                k if k == g.len() => Ok(true),
                _ => Err(Error::Input(format!(
                    "{at}: the {what} columns must all be given or all be empty"
                ))),
            }
        };
        let (has_den, has_cov) = (has(&den, "denominator")?, has(&cov, "covariate")?);
        let has_pre = has(&pre, "ratio CUPED (denominator_pre_sum, ...)")?;
        if has_pre && !(has_den && has_cov) {
            return Err(Error::Input(format!(
                "{at}: denominator_pre columns (CUPED on a ratio) need the denominator and \
                 covariate columns too"
            )));
        }
        let main_sq = match main_sq {
            Some(q) => q,
            // A proportion's Σx² is Σx.
            None => main_sum,
        };
        let v = |x: Option<f64>| x.unwrap_or(0.0);
        let sums = [main_sum, v(den[0]), v(cov[0]), v(pre[0])];
        let squares = [main_sq, v(den[1]), v(cov[1]), v(pre[1])];
        let products = [
            v(den[2]),
            v(cov[2]),
            v(pre[2]),
            v(pre[3]),
            v(pre[4]),
            v(pre[5]),
        ];
        let present = [true, has_den, has_cov, has_pre];
        let proportion = matches!(kind_text.as_deref(), Some("proportion" | "binomial"));
        check_sums(&at, n, sums, squares, products, present, proportion)?;
        let m = Moments::from_sums(n, sums, squares, products);
        let a = intern(&mut arms, &variant);
        let k = intern(&mut names, &metric);
        if table
            .insert(
                (k, a),
                (m, (kind_text, covariate_kind_text), present, *line),
            )
            .is_some()
        {
            return Err(Error::Input(format!(
                "{at}: a second row for {} and metric `{metric}`",
                shown(&variant)
            )));
        }
    }
    let mut metrics = Vec::new();
    for (k, name) in names.iter().enumerate() {
        if let Some((_, (_, _, line))) = quantile_rows.iter().find(|((m, _), _)| *m == k) {
            if let Some((_, (_, _, _, other))) = table.iter().find(|((m, _), _)| *m == k) {
                return Err(Error::Input(format!(
                    "{origin}:{line}: metric `{name}` has quantile rows and rows of sums (line {other})"
                )));
            }
            metrics.push(quantile_metric(&origin, name, k, &arms, &quantile_rows)?);
            continue;
        }
        let mut per_arm = Vec::new();
        let mut shape: Option<([bool; VALUES], Types)> = None;
        let (mut binary, mut binary_covariate) = (true, true);
        for (a, arm) in arms.iter().enumerate() {
            let Some((m, kind_text, has, line)) = table.get(&(k, a)) else {
                return Err(Error::Input(format!(
                    "{origin}: no row for {} and metric `{name}`",
                    shown(arm)
                )));
            };
            if let Some((h, _)) = &shape
                && h != has
            {
                return Err(Error::Input(format!(
                    "{origin}:{line}: metric `{name}` has denominator or covariate columns in \
                     some rows and not in others"
                )));
            }
            if let Some((_, seen)) = &shape
                && seen != kind_text
            {
                return Err(Error::Input(format!(
                    "{origin}:{line}: metric `{name}` has another metric_type or covariate_type \
                     in this row than in the row before"
                )));
            }
            shape = Some((*has, kind_text.clone()));
            // 0/1 values have Σx² = Σx: read as proportions, as raw rows of 0/1 are.
            let zero_one =
                |i: usize| (m.sum_squares(i) - m.sum(i)).abs() <= 1e-9 * m.sum(i).abs().max(1.0);
            binary &= zero_one(0);
            binary_covariate &= zero_one(2);
            per_arm.push(*m);
        }
        let (has, (kind_text, covariate_kind_text)) =
            shape.unwrap_or(([true, false, false, false], (None, None)));
        let kind_of = |column: &str, text: Option<&str>, binary: bool| match text {
            Some("proportion") | Some("binomial") => Ok(Kind::Proportion),
            Some("mean") | Some("count") => Ok(Kind::Mean),
            Some(other) => Err(Error::Input(format!(
                "{origin}: metric `{name}`: {column} `{other}` is not proportion, binomial, \
                 mean or count"
            ))),
            None if binary => Ok(Kind::Proportion),
            None => Ok(Kind::Mean),
        };
        let main = kind_of("metric_type", kind_text.as_deref(), binary)?;
        let covariate = kind_of(
            "covariate_type",
            covariate_kind_text.as_deref(),
            binary_covariate,
        )?;
        if covariate_kind_text.is_some() && !has[2] {
            return Err(Error::Input(format!(
                "{origin}: metric `{name}`: covariate_type is given without covariate columns"
            )));
        }
        metrics.push(MetricData {
            spec: MetricSpec {
                denominator: has[1].then(|| format!("{name} denominator")),
                covariate: has[2].then(|| format!("{name} covariate")),
                covariate_denominator: has[3].then(|| format!("{name} denominator_pre")),
                ..MetricSpec::new(name, name)
            },
            shape: Shape {
                main,
                denominator: has[1].then_some(Kind::Mean),
                covariate: has[2].then_some(covariate),
                covariate_denominator: has[3].then_some(Kind::Mean),
            },
            arms: per_arm,
            cap_value: None,
            capped: 0,
            missing: 0,
            covariate_missing: 0,
            first_missing_at: None,
            quantiles: None,
        });
    }
    let units = (0..arms.len())
        .map(|a| metrics.iter().map(|m| m.arms[a].n).max().unwrap_or(0))
        .collect();
    Ok(Aggregated {
        source: origin,
        arms,
        units,
        metrics,
        days: BTreeMap::new(),
        rows: rows.len() as u64,
        segments: Vec::new(),
        strata: None,
    })
}
