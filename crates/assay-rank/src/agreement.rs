//! Agreement between raters (annotators, or a judge and people) on nominal labels
//! (A / B / tie ...): Cohen's kappa for two raters, Fleiss' kappa for a fixed number of
//! raters per item, Krippendorff's alpha for any number with missing ratings. Each is
//! `None` when undefined (no items, or no variation in the labels) instead of NaN.

use std::collections::BTreeMap;
use std::hash::Hash;

/// Share of items on which two raters agree.
pub fn percent_agreement<L: Eq>(pairs: &[(L, L)]) -> Option<f64> {
    (!pairs.is_empty())
        .then(|| pairs.iter().filter(|(a, b)| a == b).count() as f64 / pairs.len() as f64)
}

/// Cohen's kappa (Cohen 1960): κ = (p_o − p_e) / (1 − p_e), p_e from each rater's own
/// label rates.
pub fn cohen_kappa<L: Eq + Hash + Ord + Clone>(pairs: &[(L, L)]) -> Option<f64> {
    let n = pairs.len() as f64;
    let p_o = percent_agreement(pairs)?;
    let mut first: BTreeMap<L, f64> = BTreeMap::new();
    let mut second: BTreeMap<L, f64> = BTreeMap::new();
    for (a, b) in pairs {
        *first.entry(a.clone()).or_default() += 1.0;
        *second.entry(b.clone()).or_default() += 1.0;
    }
    let p_e: f64 = first
        .iter()
        .map(|(l, c)| c / n * second.get(l).copied().unwrap_or(0.0) / n)
        .sum();
    (p_e < 1.0).then(|| (p_o - p_e) / (1.0 - p_e))
}

/// Fleiss' kappa (Fleiss 1971) from a table: `counts[i][j]` raters put item i in
/// category j; every item has the same number of raters.
pub fn fleiss_kappa(counts: &[Vec<usize>]) -> Result<Option<f64>, String> {
    let Some(first) = counts.first() else {
        return Ok(None);
    };
    let raters: usize = first.iter().sum();
    if raters < 2 {
        return Err("Fleiss' kappa needs at least two ratings per item".into());
    }
    for (i, row) in counts.iter().enumerate() {
        if row.iter().sum::<usize>() != raters {
            return Err(format!(
                "item {} has {} ratings, item 1 has {raters}: Fleiss' kappa needs the same number for every item (Krippendorff's alpha does not)",
                i + 1,
                row.iter().sum::<usize>()
            ));
        }
    }
    let n_items = counts.len() as f64;
    let r = raters as f64;
    let p_bar = counts
        .iter()
        .map(|row| (row.iter().map(|&c| (c * c) as f64).sum::<f64>() - r) / (r * (r - 1.0)))
        .sum::<f64>()
        / n_items;
    let k = first.len();
    let p_e: f64 = (0..k)
        .map(|j| {
            let pj = counts.iter().map(|row| row[j] as f64).sum::<f64>() / (n_items * r);
            pj * pj
        })
        .sum();
    Ok((p_e < 1.0).then(|| (p_bar - p_e) / (1.0 - p_e)))
}

/// Krippendorff's alpha for nominal labels (Krippendorff 2011, "Computing Krippendorff's
/// Alpha-Reliability"): `units[u]` holds the labels given to unit u (raters who did not
/// rate it are simply absent). α = 1 − D_o / D_e from the coincidence matrix; units with
/// fewer than two labels are left out.
pub fn krippendorff_alpha<L: Eq + Hash + Ord + Clone>(units: &[Vec<L>]) -> Option<f64> {
    let mut coincidence: BTreeMap<(L, L), f64> = BTreeMap::new();
    for labels in units.iter().filter(|l| l.len() >= 2) {
        let m = labels.len() as f64;
        for (i, a) in labels.iter().enumerate() {
            for (j, b) in labels.iter().enumerate() {
                if i != j {
                    *coincidence.entry((a.clone(), b.clone())).or_default() += 1.0 / (m - 1.0);
                }
            }
        }
    }
    let mut n_c: BTreeMap<L, f64> = BTreeMap::new();
    for ((c, _), v) in &coincidence {
        *n_c.entry(c.clone()).or_default() += v;
    }
    let n: f64 = n_c.values().sum();
    if n <= 1.0 {
        return None;
    }
    let observed: f64 = coincidence
        .iter()
        .filter(|((c, k), _)| c != k)
        .map(|(_, v)| v)
        .sum();
    let expected: f64 = n_c
        .iter()
        .flat_map(|(c, nc)| {
            n_c.iter()
                .filter(move |(k, _)| *k != c)
                .map(move |(_, nk)| nc * nk)
        })
        .sum::<f64>()
        / (n - 1.0);
    (expected > 0.0).then(|| 1.0 - observed / expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cohen_kappa_of_the_textbook_example() {
        // 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15: p_o 0.7, p_e 0.5.
        let mut pairs = vec![("yes", "yes"); 20];
        pairs.extend(vec![("yes", "no"); 5]);
        pairs.extend(vec![("no", "yes"); 10]);
        pairs.extend(vec![("no", "no"); 15]);
        assert!((cohen_kappa(&pairs).unwrap() - 0.4).abs() < 1e-12);
        assert_eq!(cohen_kappa::<&str>(&[]), None);
        assert_eq!(
            cohen_kappa(&[("a", "a"), ("a", "a")]),
            None,
            "no variation: undefined"
        );
    }

    #[test]
    fn fleiss_kappa_of_fleiss_worked_example() {
        // The 10 subjects × 5 categories, 14 raters example (Wikipedia, "Fleiss' kappa"):
        // P̄ = 0.378, P̄_e = 0.213, κ = 0.210.
        let table = vec![
            vec![0, 0, 0, 0, 14],
            vec![0, 2, 6, 4, 2],
            vec![0, 0, 3, 5, 6],
            vec![0, 3, 9, 2, 0],
            vec![2, 2, 8, 1, 1],
            vec![7, 7, 0, 0, 0],
            vec![3, 2, 6, 3, 0],
            vec![2, 5, 3, 2, 2],
            vec![6, 5, 2, 1, 0],
            vec![0, 2, 2, 3, 7],
        ];
        let k = fleiss_kappa(&table).unwrap().unwrap();
        assert!((k - 0.20993).abs() < 5e-5, "{k}");
        let err = fleiss_kappa(&[vec![1, 1], vec![1, 2]]).unwrap_err();
        assert!(err.contains("item 2 has 3 ratings"), "{err}");
    }

    #[test]
    fn krippendorff_alpha_of_krippendorffs_nominal_example() {
        // Krippendorff (2011), 4 coders × 12 units with missing values; α_nominal = 0.743.
        let coders: [[Option<u8>; 12]; 4] = [
            [
                Some(1),
                Some(2),
                Some(3),
                Some(3),
                Some(2),
                Some(1),
                Some(4),
                Some(1),
                Some(2),
                None,
                None,
                None,
            ],
            [
                Some(1),
                Some(2),
                Some(3),
                Some(3),
                Some(2),
                Some(2),
                Some(4),
                Some(1),
                Some(2),
                Some(5),
                None,
                Some(3),
            ],
            [
                None,
                Some(3),
                Some(3),
                Some(3),
                Some(2),
                Some(3),
                Some(4),
                Some(2),
                Some(2),
                Some(5),
                Some(1),
                None,
            ],
            [
                Some(1),
                Some(2),
                Some(3),
                Some(3),
                Some(2),
                Some(4),
                Some(4),
                Some(1),
                Some(2),
                Some(5),
                Some(1),
                None,
            ],
        ];
        let units: Vec<Vec<u8>> = (0..12)
            .map(|u| coders.iter().filter_map(|c| c[u]).collect())
            .collect();
        let alpha = krippendorff_alpha(&units).unwrap();
        assert!((alpha - 0.743).abs() < 5e-4, "{alpha}");
        // By hand, two raters: 10 values (five 1s, five 2s), one disagreeing unit, so
        // D_o = 2/10 and D_e = 2·5·5/(10·9): α = 1 − 0.2/0.5556 = 0.64.
        let pairs = [(1, 1), (1, 2), (2, 2), (2, 2), (1, 1)];
        let units: Vec<Vec<i32>> = pairs.iter().map(|(a, b)| vec![*a, *b]).collect();
        assert!((krippendorff_alpha(&units).unwrap() - 0.64).abs() < 1e-12);
    }
}
