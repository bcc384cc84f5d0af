//! Agreement between annotators, and between the LLM judge and people, on the same
//! comparisons. Labels are oriented to the item's pair (x, y): `x`, `y` or `tie` (a
//! tie and "both bad" count as the same label, as in MT-Bench's agreement script). The
//! judge's label for an item combines its two orders (a win only when both agree).

use crate::Item;
use crate::store::{Choice, Vote};
use assay_arena::run::Game;
use assay_rank::agreement::{cohen_kappa, fleiss_kappa, krippendorff_alpha, percent_agreement};
use assay_rank::battles::Winner;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Label {
    X,
    Y,
    Tie,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Pair {
    pub a: String,
    pub b: String,
    /// Items both labelled.
    pub items: usize,
    pub agreement: Option<f64>,
    pub cohen_kappa: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Agreement {
    /// Votes per annotator.
    pub annotators: BTreeMap<String, usize>,
    /// Krippendorff's alpha (nominal) over all annotators' labels.
    pub krippendorff_alpha: Option<f64>,
    /// Fleiss' kappa over the items every annotator labelled.
    pub fleiss_kappa: Option<f64>,
    pub fleiss_items: usize,
    pub between_annotators: Vec<Pair>,
    /// The judge against each annotator, then against all votes pooled (`a` = "all").
    pub judge_vs_people: Vec<Pair>,
}

fn label(vote: &Vote, item: &Item) -> Label {
    let winner = match vote.choice {
        Choice::Left => &vote.left,
        Choice::Right => &vote.right,
        Choice::Tie | Choice::BothBad => return Label::Tie,
    };
    if *winner == item.x {
        Label::X
    } else {
        Label::Y
    }
}

/// The judge's label per item id, when both orders have a verdict.
pub fn judge_labels(items: &[Item], games: &[Game]) -> HashMap<String, Label> {
    let verdicts: HashMap<(&str, &str, &str), _> = games
        .iter()
        .filter_map(|g| {
            Some((
                (g.prompt_id.as_str(), g.first.as_str(), g.second.as_str()),
                g.verdict?,
            ))
        })
        .collect();
    items
        .iter()
        .filter_map(|it| {
            let v1 = verdicts.get(&(it.prompt_id.as_str(), it.x.as_str(), it.y.as_str()))?;
            let v2 = verdicts
                .get(&(it.prompt_id.as_str(), it.y.as_str(), it.x.as_str()))?
                .swapped();
            let l = match v1.agree_or_tie(v2) {
                Winner::A => Label::X,
                Winner::B => Label::Y,
                Winner::Tie | Winner::BothBad => Label::Tie,
            };
            Some((it.id.clone(), l))
        })
        .collect()
}

fn pair(a: &str, b: &str, labels: &[(Label, Label)]) -> Pair {
    Pair {
        a: a.into(),
        b: b.into(),
        items: labels.len(),
        agreement: percent_agreement(labels),
        cohen_kappa: cohen_kappa(labels),
    }
}

pub fn agreement(items: &[Item], votes: &[Vote], games: &[Game]) -> Agreement {
    let by_id: HashMap<&str, &Item> = items.iter().map(|i| (i.id.as_str(), i)).collect();
    // labels[annotator][item] = label
    let mut labels: BTreeMap<&str, BTreeMap<&str, Label>> = BTreeMap::new();
    for v in votes {
        if let Some(item) = by_id.get(v.item.as_str()) {
            labels
                .entry(v.annotator.as_str())
                .or_default()
                .insert(v.item.as_str(), label(v, item));
        }
    }
    let names: Vec<&str> = labels.keys().copied().collect();
    let units: Vec<Vec<Label>> = items
        .iter()
        .map(|it| {
            names
                .iter()
                .filter_map(|n| labels[n].get(it.id.as_str()).copied())
                .collect()
        })
        .collect();
    let full: Vec<Vec<usize>> = units
        .iter()
        .filter(|u| names.len() >= 2 && u.len() == names.len())
        .map(|u| {
            [Label::X, Label::Y, Label::Tie]
                .iter()
                .map(|l| u.iter().filter(|x| *x == l).count())
                .collect()
        })
        .collect();
    let mut between = Vec::new();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            let shared: Vec<(Label, Label)> = labels[a]
                .iter()
                .filter_map(|(item, la)| Some((*la, *labels[b].get(item)?)))
                .collect();
            between.push(pair(a, b, &shared));
        }
    }
    let judge = judge_labels(items, games);
    let mut judge_vs_people = Vec::new();
    let mut pooled = Vec::new();
    if !judge.is_empty() {
        for n in &names {
            let shared: Vec<(Label, Label)> = labels[n]
                .iter()
                .filter_map(|(item, l)| Some((*judge.get(*item)?, *l)))
                .collect();
            pooled.extend(shared.iter().copied());
            judge_vs_people.push(pair("judge", n, &shared));
        }
        judge_vs_people.push(pair("judge", "all annotators", &pooled));
    }
    Agreement {
        annotators: labels
            .iter()
            .map(|(n, l)| (n.to_string(), l.len()))
            .collect(),
        krippendorff_alpha: krippendorff_alpha(&units),
        fleiss_kappa: fleiss_kappa(&full).ok().flatten(),
        fleiss_items: full.len(),
        between_annotators: between,
        judge_vs_people,
    }
}
