//! How well a grader agrees with human labels: accuracy (Wilson interval), Cohen's kappa
//! (Fleiss–Cohen–Everitt interval) and the confusion table.

use assay_stats::Estimate;
use serde::Serialize;

/// Agreement of a grader's labels with reference (human) labels over the same items.
#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    /// The classes, in the table's order: the reference's, then any only the grader used.
    pub labels: Vec<String>,
    /// `confusion[i][j]`: items the reference put in `labels[i]` and the grader in
    /// `labels[j]`.
    pub confusion: Vec<Vec<u64>>,
    /// Share of items with the same label.
    pub accuracy: Estimate,
    /// Cohen's kappa, or why it is undefined.
    pub kappa: Result<Estimate, String>,
}

/// Agreement over pairs of (reference label, grader label). `classes` fixes the order of
/// the table's first rows and columns (a class nobody used still gets its row); labels
/// outside it are appended in order of appearance.
pub fn agreement<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    classes: &[&str],
) -> Result<Agreement, assay_stats::Error> {
    let mut labels: Vec<String> = classes.iter().map(|c| c.to_string()).collect();
    let mut cells: Vec<(usize, usize)> = Vec::new();
    let index = |label: &str, labels: &mut Vec<String>| match labels.iter().position(|l| l == label)
    {
        Some(i) => i,
        None => {
            labels.push(label.to_owned());
            labels.len() - 1
        }
    };
    for (reference, grader) in pairs {
        let i = index(reference, &mut labels);
        let j = index(grader, &mut labels);
        cells.push((i, j));
    }
    if cells.is_empty() {
        return Err(assay_stats::Error::Empty);
    }
    let k = labels.len();
    let mut confusion = vec![vec![0u64; k]; k];
    for (i, j) in cells {
        confusion[i][j] += 1;
    }
    let hits: Vec<f64> = confusion
        .iter()
        .enumerate()
        .flat_map(|(i, row)| {
            row.iter().enumerate().flat_map(move |(j, &c)| {
                std::iter::repeat_n(if i == j { 1.0 } else { 0.0 }, c as usize)
            })
        })
        .collect();
    let accuracy = assay_stats::mean(&hits)?;
    let kappa = assay_stats::cohen_kappa(&confusion).map_err(|e| e.to_string());
    Ok(Agreement {
        labels,
        confusion,
        accuracy,
        kappa,
    })
}
