//! Turning the upstream files into a [`crate::Classifier`]'s parts. Every setting that
//! changes the numbers is checked against what [`crate::Classifier::predict`] implements;
//! anything else is refused with its name, never ignored.

use crate::pickle::{self, Pickle, Value};
use crate::{SvmFold, onnx};

type Parts = (Vec<String>, Vec<f64>);

fn expect(p: &Pickle, state: usize, key: &str, want: &Value) -> Result<(), String> {
    let got = p
        .dict_get(state, key)
        .map(|v| p.get(v).clone())
        .ok_or_else(|| format!("no `{key}`"))?;
    if &got != want {
        return Err(format!("`{key}` is {got:?}; the port implements {want:?}"));
    }
    Ok(())
}

fn state_of(p: &Pickle, id: usize, class: &str) -> Result<usize, String> {
    match p.object_state(id) {
        Some((c, Some(state))) if c.ends_with(class) => Ok(state),
        Some((c, _)) => Err(format!("expected a `{class}`, found `{c}`")),
        None => Err(format!("expected a `{class}` object")),
    }
}

fn field(p: &Pickle, state: usize, key: &str) -> Result<usize, String> {
    p.dict_get(state, key).ok_or_else(|| format!("no `{key}`"))
}

fn array(p: &Pickle, state: usize, key: &str) -> Result<(Vec<usize>, Vec<f64>), String> {
    pickle::array_f64(p.get(field(p, state, key)?))
        .ok_or_else(|| format!("`{key}` is not a numeric array"))
}

/// A fitted `TfidfVectorizer` (word unigrams, lower-cased, default token pattern, L2,
/// plain term counts): its vocabulary in feature order and its IDF weights.
pub(crate) fn sklearn_tfidf(bytes: &[u8]) -> Result<Parts, String> {
    let p = pickle::read(bytes).map_err(|e| e.to_string())?;
    let v = state_of(&p, p.root, "TfidfVectorizer")?;
    let s = |x: &str| Value::Str(x.into());
    expect(&p, v, "analyzer", &s("word"))?;
    expect(&p, v, "lowercase", &Value::Bool(true))?;
    expect(&p, v, "token_pattern", &s(r"(?u)\b\w\w+\b"))?;
    expect(&p, v, "strip_accents", &Value::None)?;
    expect(&p, v, "preprocessor", &Value::None)?;
    expect(&p, v, "tokenizer", &Value::None)?;
    expect(&p, v, "binary", &Value::Bool(false))?;
    expect(&p, v, "norm", &s("l2"))?;
    expect(&p, v, "use_idf", &Value::Bool(true))?;
    expect(&p, v, "sublinear_tf", &Value::Bool(false))?;
    let ngrams = p
        .list_items(field(&p, v, "ngram_range")?)
        .map(|r| r.iter().map(|&i| p.get(i).clone()).collect::<Vec<_>>());
    if ngrams != Some(vec![Value::Int(1), Value::Int(1)]) {
        return Err("`ngram_range` is not (1, 1); the port reads unigrams".into());
    }
    let Value::Dict(entries) = p.get(field(&p, v, "vocabulary_")?) else {
        return Err("`vocabulary_` is not a dict".into());
    };
    let mut vocabulary = vec![String::new(); entries.len()];
    let mut seen = vec![false; entries.len()];
    for (word, index) in entries {
        let (Value::Str(word), Value::Int(index)) = (p.get(*word), p.get(*index)) else {
            return Err("`vocabulary_` maps something other than words to numbers".into());
        };
        let slot = usize::try_from(*index)
            .ok()
            .filter(|&i| i < entries.len() && !seen[i])
            .ok_or_else(|| format!("`vocabulary_` index {index} is out of order"))?;
        seen[slot] = true;
        vocabulary[slot] = word.clone();
    }
    let tfidf = state_of(&p, field(&p, v, "_tfidf")?, "TfidfTransformer")?;
    let (shape, idf) = array(&p, tfidf, "idf_")?;
    if shape != [vocabulary.len()] {
        return Err(format!(
            "`idf_` has shape {shape:?} for {} words",
            vocabulary.len()
        ));
    }
    Ok((vocabulary, idf))
}

/// A fitted binary `CalibratedClassifierCV` over `LinearSVC` with sigmoid calibration:
/// each fold's weights, intercept and sigmoid.
pub(crate) fn sklearn_calibrated_svm(
    bytes: &[u8],
    features: usize,
) -> Result<Vec<SvmFold>, String> {
    let p = pickle::read(bytes).map_err(|e| e.to_string())?;
    let m = state_of(&p, p.root, "CalibratedClassifierCV")?;
    expect(&p, m, "method", &Value::Str("sigmoid".into()))?;
    let (_, classes) = array(&p, m, "classes_")?;
    if classes != [0.0, 1.0] {
        return Err(format!("`classes_` is {classes:?}; the port reads [0, 1]"));
    }
    let list = p
        .list_items(field(&p, m, "calibrated_classifiers_")?)
        .ok_or("`calibrated_classifiers_` is not a list")?;
    let mut folds = Vec::new();
    for &c in list {
        let c = state_of(&p, c, "_CalibratedClassifier")?;
        expect(&p, c, "method", &Value::Str("sigmoid".into()))?;
        let svm = state_of(&p, field(&p, c, "estimator")?, "LinearSVC")?;
        let (shape, weights) = array(&p, svm, "coef_")?;
        if shape != [1, features] {
            return Err(format!(
                "`coef_` has shape {shape:?} for {features} features"
            ));
        }
        let (_, intercept) = array(&p, svm, "intercept_")?;
        let [intercept] = intercept[..] else {
            return Err("`intercept_` is not one number".into());
        };
        let calibrators = p
            .list_items(field(&p, c, "calibrators")?)
            .ok_or("`calibrators` is not a list")?;
        let [calibrator] = calibrators[..] else {
            return Err("a binary fold has one calibrator".into());
        };
        let sig = state_of(&p, calibrator, "_SigmoidCalibration")?;
        let number = |key: &str| {
            p.float(field(&p, sig, key)?)
                .ok_or_else(|| format!("`{key}` is not a number"))
        };
        folds.push(SvmFold {
            weights,
            intercept,
            a: number("a_")?,
            b: number("b_")?,
        });
    }
    if folds.is_empty() {
        return Err("no calibrated classifiers".into());
    }
    Ok(folds)
}

type LinearParts = (Vec<String>, Vec<f64>, Vec<Vec<f64>>, Vec<f64>);

/// An skl2onnx export of TF-IDF (unigrams, TF counts, ASCII word tokenizer) with L2 norm
/// and a softmax `LinearClassifier`: vocabulary, IDF, weights per class, intercepts.
pub(crate) fn onnx_tfidf_linear(bytes: &[u8], classes: usize) -> Result<LinearParts, String> {
    let g = onnx::decode(bytes)?;
    let norm = g.node("StringNormalizer")?;
    if norm.text("case_change_action") != "LOWER" {
        return Err("`StringNormalizer` does not lower-case".into());
    }
    let tokenizer = g.node("Tokenizer")?;
    if tokenizer.text("tokenexp") != "[a-zA-Z0-9_]+"
        || tokenizer.attribute("mincharnum")?.i != 1
        || tokenizer.attribute("mark")?.i != 0
    {
        return Err("`Tokenizer` is not `[a-zA-Z0-9_]+` with mincharnum 1".into());
    }
    let tfidf = g.node("TfIdfVectorizer")?;
    if tfidf.text("mode") != "TF"
        || tfidf.attribute("min_gram_length")?.i != 1
        || tfidf.attribute("max_gram_length")?.i != 1
    {
        return Err("`TfIdfVectorizer` is not unigram term counts".into());
    }
    let pool = &tfidf.attribute("pool_strings")?.strings;
    let slots = &tfidf.attribute("ngram_indexes")?.ints;
    if slots.len() != pool.len() {
        return Err("`ngram_indexes` and `pool_strings` differ in length".into());
    }
    let n = pool.len();
    let mut vocabulary = vec![String::new(); n];
    let mut seen = vec![false; n];
    for (word, &slot) in pool.iter().zip(slots) {
        let slot = usize::try_from(slot)
            .ok()
            .filter(|&s| s < n && !seen[s])
            .ok_or_else(|| format!("`ngram_indexes` slot {slot} is out of order"))?;
        seen[slot] = true;
        vocabulary[slot] = String::from_utf8(word.clone()).map_err(|_| "a word is not UTF-8")?;
    }
    let mul = g.node("Mul")?;
    let idf_name = mul
        .input
        .iter()
        .find(|i| g.initializer.iter().any(|t| &t.name == *i))
        .ok_or("`Mul` has no IDF initializer")?;
    let idf: Vec<f64> = g.floats(idf_name)?.into_iter().map(f64::from).collect();
    if idf.len() != n {
        return Err(format!("IDF has {} values for {n} words", idf.len()));
    }
    let normalizers: Vec<String> = g
        .node
        .iter()
        .filter(|node| node.op_type == "Normalizer")
        .map(|node| node.text("norm"))
        .collect();
    if normalizers != ["L2", "L1"] {
        return Err(format!(
            "normalizers {normalizers:?}; the port implements L2 on features, L1 on probabilities"
        ));
    }
    let linear = g.node("LinearClassifier")?;
    if linear.text("post_transform") != "SOFTMAX" {
        return Err("`LinearClassifier` is not softmax".into());
    }
    let labels = &linear.attribute("classlabels_ints")?.ints;
    if *labels != (0..classes as i64).collect::<Vec<_>>() {
        return Err(format!("class labels {labels:?}; expected 0..{classes}"));
    }
    let coefficients = &linear.attribute("coefficients")?.floats;
    let intercepts: Vec<f64> = linear
        .attribute("intercepts")?
        .floats
        .iter()
        .map(|&x| f64::from(x))
        .collect();
    if coefficients.len() != classes * n || intercepts.len() != classes {
        return Err("`LinearClassifier` weights do not match the vocabulary".into());
    }
    let weights = coefficients
        .chunks_exact(n)
        .map(|row| row.iter().map(|&x| f64::from(x)).collect())
        .collect();
    Ok((vocabulary, idf, weights, intercepts))
}
